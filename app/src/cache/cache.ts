import type { AppMetrics } from '../metrics';
import type { CacheStore } from './cache-store';

/** Where the cache reports a store failure (a pino logger fits). */
export interface CacheLogger {
  warn(obj: object, msg: string): void;
}

/** Options of {@link Cache}. */
export interface CacheOptions {
  /** Default time to live of an entry. */
  ttlSeconds: number;
  metrics?: AppMetrics;
  logger?: CacheLogger;
  /** How long a loader may hold the per-key lock. @default 5000 */
  lockTtlMs?: number;
  /** How long a waiter polls for another instance's loader before loading itself. @default 1000 */
  lockWaitMs?: number;
}

interface StoredEntry {
  /** Tag versions at the time the value was loaded. */
  t: number[];
  v: unknown;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Cache-aside with TTL and tags over any {@link CacheStore}.
 *
 * - Tags are version counters: an entry remembers the versions of its tags when it was loaded, and is a hit
 *   only while they are unchanged. `invalidateTags(['product:<id>'])` therefore drops every entry tagged with
 *   it, including one a slow loader writes after the invalidation (it carries the old version).
 * - Stampede protection: concurrent misses on one key share one loader in this process, and across
 *   instances a short lock in the store lets one loader run while the others wait for its result.
 * - Fail-open: when the store fails, the value comes from the loader (the database), the failure is logged
 *   and counted as `cache_requests_total{result="error"}`, and the caller never sees an error.
 *
 * `invalidateTags` is the single entry point for invalidation, so a message-queue consumer can call it too.
 * There is deliberately no way to put a value: only a read fills the cache (with the tag versions it saw
 * before loading), so a fill can never be newer than the invalidations it missed.
 */
export class Cache {
  private readonly inflight = new Map<string, Promise<unknown>>();
  private readonly lockTtlMs: number;
  private readonly lockWaitMs: number;

  constructor(
    readonly store: CacheStore,
    private readonly options: CacheOptions,
  ) {
    this.lockTtlMs = options.lockTtlMs ?? 5_000;
    this.lockWaitMs = options.lockWaitMs ?? 1_000;
  }

  /** Returns the cached value of `key`, or loads it once (per key, across callers) and caches it. */
  getOrLoad<T>(
    key: string,
    tags: readonly string[],
    loader: () => Promise<T>,
    ttlSeconds?: number,
  ): Promise<T> {
    if (this.store.kind === 'none') {
      // Caching off: no coalescing either, so a baseline measures every read reaching the database.
      this.count('miss');
      return loader();
    }
    const running = this.inflight.get(key);
    if (running) return running as Promise<T>;
    const promise = this.lookup(key, tags, loader, ttlSeconds ?? this.options.ttlSeconds).finally(() =>
      this.inflight.delete(key),
    );
    this.inflight.set(key, promise);
    return promise;
  }

  /** Invalidates every entry tagged with any of `tags` (e.g. `product:<id>`, `catalog`). Never throws. */
  async invalidateTags(tags: readonly string[]): Promise<void> {
    try {
      await this.store.bumpTags(tags);
    } catch (err) {
      // The write already committed; the TTL bounds how long the stale entry can live.
      this.failed(err, 'cache invalidation failed; entries expire with their TTL', { tags });
    }
  }

  private async lookup<T>(
    key: string,
    tags: readonly string[],
    loader: () => Promise<T>,
    ttl: number,
  ): Promise<T> {
    let versions: number[];
    try {
      const found = await this.readValid(key, tags);
      if (found.hit) {
        this.count('hit');
        return found.value as T;
      }
      versions = found.tagVersions;
    } catch (err) {
      this.failed(err, 'cache read failed; serving from the database', { key });
      return loader();
    }
    this.count('miss');

    let token: string | null = null;
    try {
      token = await this.store.tryLock(key, this.lockTtlMs);
      if (token === null) {
        // Another instance is loading this key: wait briefly for its result rather than hitting the database.
        const deadline = Date.now() + this.lockWaitMs;
        while (Date.now() < deadline) {
          await sleep(20);
          const found = await this.readValid(key, tags);
          if (found.hit) return found.value as T;
          // The other loader is done (the lock is free) yet left nothing valid: a tag moved on while it
          // loaded. Load now, under the lock and against the newest tag versions, instead of waiting out
          // the deadline (with frequent invalidations that wait would be paid by every waiter).
          token = await this.store.tryLock(key, this.lockTtlMs);
          if (token !== null) break;
        }
      }
      if (token !== null) {
        // Double-check under the lock: a loader that finished between our read and taking the lock has
        // stored a valid entry and released the lock; loading again would be the very stampede the lock is for.
        const found = await this.readValid(key, tags);
        if (found.hit) {
          await this.store.unlock(key, token).catch(() => {});
          return found.value as T;
        }
        versions = found.tagVersions;
      }
    } catch (err) {
      this.failed(err, 'cache lock failed; loading without it', { key });
    }

    try {
      const value = await loader();
      try {
        await this.store.write(key, JSON.stringify({ t: versions, v: value } satisfies StoredEntry), ttl);
      } catch (err) {
        this.failed(err, 'cache write failed', { key });
      }
      return value;
    } finally {
      if (token !== null) await this.store.unlock(key, token).catch(() => {});
    }
  }

  private async readValid(key: string, tags: readonly string[]) {
    const { entry, tagVersions } = await this.store.read(key, tags);
    if (entry !== null) {
      const stored = JSON.parse(entry) as StoredEntry;
      if (stored.t.length === tagVersions.length && stored.t.every((v, i) => v === tagVersions[i])) {
        return { hit: true as const, value: stored.v, tagVersions };
      }
    }
    return { hit: false as const, tagVersions };
  }

  private count(result: 'hit' | 'miss' | 'error') {
    this.options.metrics?.cacheRequests.inc({ result });
  }

  private failed(err: unknown, msg: string, context: object) {
    this.count('error');
    this.options.logger?.warn({ ...context, err: (err as Error).message, cacheStore: this.store.kind }, msg);
  }
}
