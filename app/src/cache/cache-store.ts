/**
 * A cache adapter: a key/value store with TTLs, tag version counters and short-lived locks. The tagging,
 * stampede protection and fail-open logic live in {@link Cache}; adapters only store.
 */
export interface CacheStore {
  /** `memory` (in process), `redis`, or `none` (caching off). */
  readonly kind: 'memory' | 'redis' | 'none';
  /** Reads an entry and the current versions of `tags` (missing = 0), in one round trip where possible. */
  read(key: string, tags: readonly string[]): Promise<{ entry: string | null; tagVersions: number[] }>;
  /** Stores an entry for `ttlSeconds`. */
  write(key: string, entry: string, ttlSeconds: number): Promise<void>;
  /** Increments the version of each tag: every entry written under an older version becomes stale. */
  bumpTags(tags: readonly string[]): Promise<void>;
  /** Takes a lock for `ttlMs` if nobody holds it; returns a token, or null when it is held. */
  tryLock(key: string, ttlMs: number): Promise<string | null>;
  /** Releases a lock taken with `token` (no-op if it expired and someone else holds it now). */
  unlock(key: string, token: string): Promise<void>;
  /** Checks the store answers. */
  ping(): Promise<void>;
  /** Releases the store's connection. */
  close(): Promise<void>;
}
