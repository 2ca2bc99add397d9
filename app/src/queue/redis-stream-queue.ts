import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type Redis from 'ioredis';
import {
  QUEUE_DEFAULTS,
  type DeadLetterObserver,
  type Delivery,
  type MessageQueue,
  type MessageQueueOptions,
} from './message-queue';

/** Options of {@link RedisStreamQueue}. */
export interface RedisStreamQueueOptions extends MessageQueueOptions {
  /** Key prefix, e.g. `shop:`: the stream is `<prefix>q:<name>`, its dead letters `<prefix>q:<name>:dead`. */
  prefix: string;
  /** Queue name; also the consumer group's name. */
  name: string;
  /** This consumer's name in the group. @default - host, pid and a random suffix */
  consumerName?: string;
  /** Dead letters kept (approximately; the oldest are trimmed). @default 10000 */
  deadLetterMaxLength?: number;
}

/** Longest a receive blocks (SQS's long-poll limit too); the blocking connection's timeout allows for it. */
const MAX_WAIT_MS = 20_000;

type StreamEntry = [id: string, fields: string[]];

function bodyOf(fields: string[]): string {
  const at = fields.indexOf('body');
  return at >= 0 ? fields[at + 1] : '';
}

/**
 * The queue on Redis Streams with one consumer group: every instance is a consumer of the group, a message
 * goes to one of them and stays in the group's pending entries list (PEL) until acknowledged. A consumer
 * that dies leaves its messages pending; once they have been idle for `leaseMs` another consumer takes them
 * over with XAUTOCLAIM (which counts the delivery), and a message delivered `maxReceives` times is moved to
 * the dead-letter stream instead. Acknowledged messages are deleted from the stream, so it holds only work.
 *
 * Blocking reads run on a connection of their own (a duplicate of the given client), since a blocked
 * connection can serve nothing else and the app's client has a short command timeout.
 */
export class RedisStreamQueue implements MessageQueue {
  readonly kind = 'redis' as const;
  readonly leaseMs: number;
  readonly maxReceives: number;
  /** The stream's key. */
  readonly streamKey: string;
  /** The dead-letter stream's key. */
  readonly deadLetterKey: string;
  private readonly group: string;
  private readonly consumer: string;
  private readonly deadLetterMaxLength: number;
  private readonly onDeadLetter?: DeadLetterObserver;
  private readonly blocking: Redis;
  private groupReady?: Promise<void>;
  private claimCursor = '0-0';
  private closed = false;

  /**
   * @param client a connected ioredis client for the non-blocking commands (not closed by this adapter)
   */
  constructor(
    private readonly client: Redis,
    options: RedisStreamQueueOptions,
  ) {
    this.leaseMs = options.leaseMs ?? QUEUE_DEFAULTS.leaseMs;
    this.maxReceives = options.maxReceives ?? QUEUE_DEFAULTS.maxReceives;
    this.onDeadLetter = options.onDeadLetter;
    this.streamKey = `${options.prefix}q:${options.name}`;
    this.deadLetterKey = `${this.streamKey}:dead`;
    this.group = options.name;
    this.consumer = options.consumerName ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.deadLetterMaxLength = options.deadLetterMaxLength ?? 10_000;
    this.blocking = client.duplicate({ commandTimeout: MAX_WAIT_MS + 5_000, lazyConnect: true });
    this.blocking.on('error', () => {
      // Reconnects by itself; a receive meanwhile fails and the consumer backs off.
    });
  }

  async send(bodies: readonly string[]): Promise<void> {
    if (bodies.length === 0) return;
    const pipeline = this.client.multi();
    for (const body of bodies) pipeline.xadd(this.streamKey, '*', 'body', body);
    const results = await pipeline.exec();
    // MULTI: all or nothing; a null result means the transaction was discarded.
    if (!results) throw new Error(`sending to ${this.streamKey} was aborted`);
    for (const [err] of results) if (err) throw err;
  }

  async receive(max: number, waitMs: number): Promise<Delivery[]> {
    if (this.closed) return [];
    try {
      await this.ensureGroup();
      const deliveries = await this.reclaim(max);
      if (deliveries.length >= max) return deliveries;
      // Only block when nothing was reclaimed: reclaimed work is returned at once.
      const blockMs = deliveries.length > 0 ? undefined : Math.min(Math.max(waitMs, 1), MAX_WAIT_MS);
      if (this.blocking.status === 'wait') await this.blocking.connect();
      const args: (string | number)[] = [
        'GROUP',
        this.group,
        this.consumer,
        'COUNT',
        max - deliveries.length,
      ];
      if (blockMs !== undefined) args.push('BLOCK', blockMs);
      args.push('STREAMS', this.streamKey, '>');
      const reply = (await this.blocking.call('XREADGROUP', ...args)) as [string, StreamEntry[]][] | null;
      for (const [id, fields] of reply?.[0]?.[1] ?? []) {
        deliveries.push({ id, body: bodyOf(fields), receiveCount: 1, receipt: id });
      }
      return deliveries;
    } catch (err) {
      if (this.closed) return [];
      // The group is gone (Redis restarted without persistence): create it again on the next receive.
      if (/NOGROUP/.test((err as Error).message)) this.groupReady = undefined;
      throw err;
    }
  }

  async ack(deliveries: readonly Delivery[]): Promise<void> {
    if (deliveries.length === 0) return;
    const ids = deliveries.map((d) => d.id);
    const results = await this.client
      .multi()
      .xack(this.streamKey, this.group, ...ids)
      .xdel(this.streamKey, ...ids)
      .exec();
    for (const [err] of results ?? []) if (err) throw err;
  }

  async extendLease(deliveries: readonly Delivery[]): Promise<void> {
    if (deliveries.length === 0) return;
    // XCLAIM with min-idle 0 resets the idle time; JUSTID leaves the delivery count alone.
    await this.client.call(
      'XCLAIM',
      this.streamKey,
      this.group,
      this.consumer,
      0,
      ...deliveries.map((d) => d.id),
      'JUSTID',
    );
  }

  /** Messages in the dead-letter stream, oldest first (at most `count`). */
  async deadLetters(count = 100): Promise<Delivery[]> {
    const entries = (await this.client.xrange(this.deadLetterKey, '-', '+', 'COUNT', count)) as StreamEntry[];
    return entries.map(([, fields]) => {
      const get = (name: string) => fields[fields.indexOf(name) + 1];
      return { id: get('id'), body: get('body'), receiveCount: Number(get('receives')), receipt: '' };
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.blocking.disconnect();
  }

  private ensureGroup(): Promise<void> {
    this.groupReady ??= (async () => {
      try {
        // From id 0, so that messages sent before the first consumer started are delivered too.
        await this.client.xgroup('CREATE', this.streamKey, this.group, '0', 'MKSTREAM');
      } catch (err) {
        if (!/BUSYGROUP/.test((err as Error).message)) throw err;
      }
    })().catch((err) => {
      this.groupReady = undefined;
      throw err;
    });
    return this.groupReady;
  }

  /** Takes over messages whose consumer has held them longer than the lease; dead-letters worn-out ones. */
  private async reclaim(max: number): Promise<Delivery[]> {
    const [next, entries] = (await this.client.call(
      'XAUTOCLAIM',
      this.streamKey,
      this.group,
      this.consumer,
      this.leaseMs,
      this.claimCursor,
      'COUNT',
      max,
    )) as [string, (StreamEntry | null)[]];
    // The cursor walks the whole PEL over successive calls; 0-0 means it wrapped around.
    this.claimCursor = next;
    const claimed = entries.filter((e): e is StreamEntry => e !== null);
    if (claimed.length === 0) return [];

    // XAUTOCLAIM does not return delivery counts: read them from the PEL (one round trip for all).
    const pending = this.client.pipeline();
    for (const [id] of claimed) pending.xpending(this.streamKey, this.group, id, id, 1);
    const counts = (await pending.exec()) ?? [];
    const deliveries: Delivery[] = [];
    const dead: Delivery[] = [];
    claimed.forEach(([id, fields], i) => {
      const [err, rows] = counts[i] ?? [null, []];
      const row = (err ? [] : (rows as [string, string, number, number][]))[0];
      const receiveCount = row ? Number(row[3]) : 1;
      const delivery = { id, body: bodyOf(fields), receiveCount, receipt: id };
      // Delivered maxReceives times already and taken over once more: it keeps failing, move it aside.
      if (receiveCount > this.maxReceives) dead.push({ ...delivery, receiveCount: receiveCount - 1 });
      else deliveries.push(delivery);
    });
    if (dead.length > 0) {
      const move = this.client.multi();
      for (const d of dead) {
        move.xadd(
          this.deadLetterKey,
          'MAXLEN',
          '~',
          this.deadLetterMaxLength,
          '*',
          'id',
          d.id,
          'body',
          d.body,
          'receives',
          String(d.receiveCount),
        );
      }
      const ids = dead.map((d) => d.id);
      move.xack(this.streamKey, this.group, ...ids).xdel(this.streamKey, ...ids);
      const results = await move.exec();
      for (const [err] of results ?? []) if (err) throw err;
      for (const d of dead) this.onDeadLetter?.(d);
    }
    return deliveries;
  }
}
