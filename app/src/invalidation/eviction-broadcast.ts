import { EventEmitter } from 'node:events';
import type Redis from 'ioredis';

/** What an instance does with the broadcast: evict tags, or clear everything after a gap. */
export interface EvictionListener {
  evictTags(tags: readonly string[]): void;
  /** Evictions may have been missed (the subscription was down): drop everything. */
  clear(): void;
}

/**
 * Fan-out of evictions to every app instance's first-level cache. Fire-and-forget by design: a missed
 * message leaves an entry stale for at most the first-level TTL, and a subscription that was down clears
 * its cache when it comes back.
 */
export interface EvictionBroadcast {
  /** Tells every instance (this one included) to evict `tags`. */
  publish(tags: readonly string[]): Promise<void>;
  /** Registers this instance's cache. */
  subscribe(listener: EvictionListener): Promise<void>;
  close(): Promise<void>;
}

/** The embedded broadcast: one process, so an event emitter. */
export class InProcessEvictionBroadcast implements EvictionBroadcast {
  private readonly emitter = new EventEmitter();

  async publish(tags: readonly string[]): Promise<void> {
    this.emitter.emit('evict', tags);
  }

  async subscribe(listener: EvictionListener): Promise<void> {
    this.emitter.on('evict', (tags: readonly string[]) => listener.evictTags(tags));
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}

/**
 * Redis pub/sub on `<prefix>evict`: every instance subscribes on a connection of its own (a subscribed
 * connection can do nothing else) and publishing goes through the app's client. Redis is already in every
 * topology that has more than one instance, and pub/sub needs no per-instance queue to create or clean up.
 */
export class RedisEvictionBroadcast implements EvictionBroadcast {
  readonly channel: string;
  private readonly subscriber: Redis;
  private listeners: EvictionListener[] = [];
  private subscribed = false;

  /** @param client the app's client, used to publish (not closed here) */
  constructor(
    private readonly client: Redis,
    prefix: string,
  ) {
    this.channel = `${prefix}evict`;
    // The subscriber keeps reconnecting; an offline queue is harmless here (it only resubscribes).
    this.subscriber = client.duplicate({
      lazyConnect: true,
      enableOfflineQueue: true,
      commandTimeout: undefined,
    });
    this.subscriber.on('error', () => {});
    this.subscriber.on('message', (_channel: string, message: string) => {
      let tags: unknown;
      try {
        tags = JSON.parse(message);
      } catch {
        return;
      }
      if (!Array.isArray(tags)) return;
      for (const listener of this.listeners) listener.evictTags(tags as string[]);
    });
    // ioredis resubscribes on reconnect; messages published while it was away are lost, so clear.
    this.subscriber.on('ready', () => {
      if (!this.subscribed) return;
      for (const listener of this.listeners) listener.clear();
    });
  }

  async publish(tags: readonly string[]): Promise<void> {
    await this.client.publish(this.channel, JSON.stringify(tags));
  }

  async subscribe(listener: EvictionListener): Promise<void> {
    this.listeners.push(listener);
    if (this.subscribed) return;
    if (this.subscriber.status === 'wait') await this.subscriber.connect();
    await this.subscriber.subscribe(this.channel);
    this.subscribed = true;
  }

  async close(): Promise<void> {
    this.listeners = [];
    this.subscriber.disconnect();
  }
}
