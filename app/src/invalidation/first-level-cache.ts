import { LRUCache } from 'lru-cache';

/** Options of {@link FirstLevelCache}. */
export interface FirstLevelCacheOptions {
  /** Entries kept; the least recently used go first. @default 10000 */
  maxEntries?: number;
  /**
   * How long an entry lives: the bound on staleness when an eviction broadcast is missed. @default 2000
   */
  ttlMs?: number;
  /** Counts lookups (`hit` / `miss`). */
  observe?: (result: 'hit' | 'miss') => void;
}

/**
 * The tag every cache entry implicitly carries where the cache store says so (a secondary region's regional
 * cache, regions/regional-cache-store.ts): invalidating it invalidates everything.
 */
export const EVERY_ENTRY_TAG = '*';

interface Entry {
  value: unknown;
  tags: readonly string[];
}

/**
 * The in-process first-level cache in front of Redis: a bounded LRU with a short TTL (lru-cache), whose
 * entries are also dropped by tag when an eviction broadcast arrives.
 *
 * A load that overlaps an eviction of one of its tags is returned to its caller but not kept: it may have
 * read the value from before the change (the same rule as the tag versions in Redis, kept locally by a
 * counter per tag). Concurrent misses on one key share one load.
 */
export class FirstLevelCache {
  private readonly lru: LRUCache<string, Entry>;
  private readonly byTag = new Map<string, Set<string>>();
  /** Evictions per tag, only while a load of that tag is in flight (so the map stays small). */
  private readonly evictions = new Map<string, number>();
  private readonly loadingTags = new Map<string, number>();
  private readonly inflight = new Map<string, Promise<unknown>>();
  /** Bumped by clear(): a load that overlaps it is not kept either. */
  private epoch = 0;
  /** The TTL, for documentation and tests. */
  readonly ttlMs: number;

  constructor(private readonly options: FirstLevelCacheOptions = {}) {
    this.ttlMs = options.ttlMs ?? 2_000;
    this.lru = new LRUCache<string, Entry>({
      max: options.maxEntries ?? 10_000,
      ttl: this.ttlMs,
      // Expired entries are dropped when read; no timers.
      ttlAutopurge: false,
      dispose: (entry, key) => this.unindex(key, entry.tags),
    });
  }

  /** The value of `key`, from this process if present, else from `load` (kept unless evicted meanwhile). */
  getOrLoad<T>(key: string, tags: readonly string[], load: () => Promise<T>): Promise<T> {
    const entry = this.lru.get(key);
    if (entry !== undefined) {
      this.options.observe?.('hit');
      return Promise.resolve(entry.value as T);
    }
    this.options.observe?.('miss');
    const running = this.inflight.get(key);
    if (running) return running as Promise<T>;
    const promise = this.load(key, tags, load).finally(() => this.inflight.delete(key));
    this.inflight.set(key, promise);
    return promise;
  }

  /**
   * Drops every entry tagged with any of `tags` (the broadcast's handler); {@link EVERY_ENTRY_TAG} among them
   * drops everything.
   */
  evictTags(tags: readonly string[]): void {
    if (tags.includes(EVERY_ENTRY_TAG)) {
      this.clear();
      return;
    }
    for (const tag of tags) {
      if (this.loadingTags.has(tag)) this.evictions.set(tag, (this.evictions.get(tag) ?? 0) + 1);
      for (const key of [...(this.byTag.get(tag) ?? [])]) this.lru.delete(key);
    }
  }

  /** Drops everything (after a gap in the broadcast, when evictions may have been missed). */
  clear(): void {
    this.epoch += 1;
    this.lru.clear();
  }

  /** Entries held (expired ones not yet dropped included). */
  get size(): number {
    return this.lru.size;
  }

  private async load<T>(key: string, tags: readonly string[], load: () => Promise<T>): Promise<T> {
    const epoch = this.epoch;
    for (const tag of tags) this.loadingTags.set(tag, (this.loadingTags.get(tag) ?? 0) + 1);
    const before = tags.map((tag) => this.evictions.get(tag) ?? 0);
    try {
      const value = await load();
      const evicted =
        this.epoch !== epoch || tags.some((tag, i) => (this.evictions.get(tag) ?? 0) !== before[i]);
      if (!evicted) {
        this.lru.set(key, { value, tags });
        for (const tag of tags) {
          let keys = this.byTag.get(tag);
          if (!keys) this.byTag.set(tag, (keys = new Set()));
          keys.add(key);
        }
      }
      return value;
    } finally {
      for (const tag of tags) {
        const n = (this.loadingTags.get(tag) ?? 1) - 1;
        if (n > 0) this.loadingTags.set(tag, n);
        else {
          this.loadingTags.delete(tag);
          this.evictions.delete(tag);
        }
      }
    }
  }

  private unindex(key: string, tags: readonly string[]) {
    for (const tag of tags) {
      const keys = this.byTag.get(tag);
      if (!keys) continue;
      keys.delete(key);
      if (keys.size === 0) this.byTag.delete(tag);
    }
  }
}
