import { Client, type ClientConfig } from 'pg';
import { OUTBOX_CHANNEL, type OutboxWakeSource } from './outbox';

/**
 * LISTENs on the outbox channel on one dedicated connection and wakes the relay on each NOTIFY. When the
 * connection drops it reconnects with a backoff and wakes the relay once (notifications sent meanwhile
 * were lost; the relay's poll would find the rows anyway, this only makes it sooner).
 *
 * `channel`: `invalidation_outbox` (default) or `event_outbox` (domain events, migration 006).
 * Use a direct connection to the writer (a pooler in transaction mode cannot hold a LISTEN session).
 */
export function listenForOutbox(config: ClientConfig, channel: string = OUTBOX_CHANNEL): OutboxWakeSource {
  if (!/^[a-z_]+$/.test(channel)) throw new Error(`"${channel}" is not a channel name`);
  let wake: () => void = () => {};
  let client: Client | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  let backoff = 200;

  const connect = async () => {
    if (closed) return;
    const next = new Client(config);
    next.on('notification', () => wake());
    next.on('error', () => reconnect(next));
    next.on('end', () => reconnect(next));
    try {
      await next.connect();
      await next.query(`LISTEN ${channel}`);
      client = next;
      backoff = 200;
      wake();
    } catch {
      reconnect(next);
    }
  };
  const reconnect = (broken: Client) => {
    if (closed || retry || (client !== undefined && client !== broken)) return;
    client = undefined;
    broken.end().catch(() => {});
    retry = setTimeout(() => {
      retry = undefined;
      void connect();
    }, backoff);
    retry.unref();
    backoff = Math.min(backoff * 2, 5_000);
  };
  void connect();

  return {
    subscribe(listener) {
      wake = listener;
    },
    async close() {
      closed = true;
      clearTimeout(retry);
      await client?.end().catch(() => {});
    },
  };
}
