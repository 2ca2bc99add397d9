/**
 * The event end-to-end delay of `npm run bench:1m`, read from the databases after the run: for every OrderPlaced
 * of a given set of users, its outbox row's `created_at` (public.event_outbox, clock_timestamp() at the insert)
 * and the users consumer's dedupe record's `processed_at` (ls_NNN.processed_events, now() of the consumer's
 * transaction, which commits right after) on the same Postgres server, so both come from one server clock and the
 * difference is computed by that server.
 */
import { Client } from 'pg';
import { round2 } from './script-args';

/** The consumer name of the order count's dedupe records (app/src/events/consumers/order-count.ts). */
const USERS_CONSUMER = 'users';

/** One OrderPlaced event of the measured users, as found on its server. */
export interface EventRecord {
  readonly eventId: string;
  readonly userId: string;
  /** Dedupe records of the users consumer for this event on the server (1 = applied once). */
  readonly applied: number;
  /** processed_at − created_at, ms (null while not applied). */
  readonly delayMs: number | null;
}

/** What {@link readEventRecords} found on all servers. */
export interface EventSnapshot {
  readonly events: EventRecord[];
  /** Orders of the measured users (ls_NNN.orders). */
  readonly orders: number;
  /** Sum of the measured users' order_count (the consumer's effect). */
  readonly orderCountTotal: number;
}

/** Nearest-rank percentile of an ascending list. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Reads the OrderPlaced events of `userIds` and their dedupe records from every server in `urls`. */
export async function readEventRecords(
  urls: readonly string[],
  userIds: readonly string[],
): Promise<EventSnapshot> {
  const events: EventRecord[] = [];
  let orders = 0;
  let orderCountTotal = 0;
  for (const url of urls) {
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      const { rows: schemas } = await client.query<{ name: string }>(
        `SELECT nspname AS name FROM pg_namespace WHERE nspname ~ '^ls_[0-9]+$' ORDER BY nspname`,
      );
      if (schemas.length === 0) continue;
      const union = (sql: (s: string) => string) =>
        schemas.map((s) => sql(`"${s.name}"`)).join(' UNION ALL ');
      const { rows } = await client.query<{
        event_id: string;
        user_id: string;
        applied: string;
        delay_ms: number | null;
      }>(
        `WITH p AS (${union((s) => `SELECT event_id, processed_at FROM ${s}.processed_events WHERE consumer = $2`)})
         SELECT o.event_id::text, o.envelope -> 'data' ->> 'userId' AS user_id, count(p.event_id) AS applied,
                (extract(epoch FROM min(p.processed_at) - o.created_at) * 1000)::float8 AS delay_ms
         FROM public.event_outbox o LEFT JOIN p ON p.event_id = o.event_id
         WHERE o.type = 'OrderPlaced' AND o.envelope -> 'data' ->> 'userId' = ANY($1::text[])
         GROUP BY o.event_id, o.envelope, o.created_at`,
        [userIds, USERS_CONSUMER],
      );
      for (const r of rows)
        events.push({
          eventId: r.event_id,
          userId: r.user_id,
          applied: Number(r.applied),
          delayMs: r.delay_ms,
        });
      const { rows: counts } = await client.query<{ orders: string; order_count: string }>(
        `SELECT (SELECT count(*) FROM (${union((s) => `SELECT id FROM ${s}.orders WHERE user_id::text = ANY($1::text[])`)}) o) AS orders,
                (SELECT coalesce(sum(order_count), 0) FROM (${union((s) => `SELECT order_count FROM ${s}.users WHERE id::text = ANY($1::text[])`)}) u) AS order_count`,
        [userIds],
      );
      orders += Number(counts[0].orders);
      orderCountTotal += Number(counts[0].order_count);
    } finally {
      await client.end();
    }
  }
  return { events, orders, orderCountTotal };
}

/** The event delay's summary and its exactly-once check. */
export interface EventDelaySummary {
  /** Orders answered 201 by the measured path. */
  readonly ordersPlaced: number;
  /** Orders of the measured users in the databases. */
  readonly ordersInDatabase: number;
  /** OrderPlaced rows in the outboxes. */
  readonly eventsInOutbox: number;
  /** Events with exactly one dedupe record. */
  readonly appliedOnce: number;
  /** Events with none (not applied when read). */
  readonly notApplied: number;
  /** Events with more than one (applied twice: must be 0). */
  readonly appliedMoreThanOnce: number;
  /** Sum of the users' order_count. */
  readonly orderCountTotal: number;
  /** Every placed order has one event, applied once, and counted once. */
  readonly exactlyOnce: boolean;
  readonly delayMs: { p50: number; p90: number; p99: number; max: number; mean: number } | null;
}

/** Summarises a snapshot against the number of orders the client saw placed. */
export function summariseEventDelay(snapshot: EventSnapshot, ordersPlaced: number): EventDelaySummary {
  const appliedOnce = snapshot.events.filter((e) => e.applied === 1).length;
  const notApplied = snapshot.events.filter((e) => e.applied === 0).length;
  const appliedMoreThanOnce = snapshot.events.filter((e) => e.applied > 1).length;
  const delays = snapshot.events
    .filter((e) => e.applied > 0 && e.delayMs !== null)
    .map((e) => e.delayMs as number)
    .sort((a, b) => a - b);
  const eventsInOutbox = snapshot.events.length;
  return {
    ordersPlaced,
    ordersInDatabase: snapshot.orders,
    eventsInOutbox,
    appliedOnce,
    notApplied,
    appliedMoreThanOnce,
    orderCountTotal: snapshot.orderCountTotal,
    exactlyOnce:
      ordersPlaced > 0 &&
      snapshot.orders === ordersPlaced &&
      eventsInOutbox === ordersPlaced &&
      appliedOnce === ordersPlaced &&
      snapshot.orderCountTotal === ordersPlaced,
    delayMs:
      delays.length === 0
        ? null
        : {
            p50: round2(percentile(delays, 50)),
            p90: round2(percentile(delays, 90)),
            p99: round2(percentile(delays, 99)),
            max: round2(delays[delays.length - 1]),
            mean: round2(delays.reduce((a, b) => a + b, 0) / delays.length),
          },
  };
}

/**
 * Waits until every OrderPlaced of `userIds` has a dedupe record (or `timeoutMs` passes), then returns the last
 * snapshot: the caller checks it.
 */
export async function waitForEventsApplied(
  urls: readonly string[],
  userIds: readonly string[],
  expected: number,
  timeoutMs = 60_000,
): Promise<EventSnapshot> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const snapshot = await readEventRecords(urls, userIds);
    const pending = snapshot.events.filter((e) => e.applied === 0).length;
    if ((snapshot.events.length >= expected && pending === 0) || Date.now() > deadline) return snapshot;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
