import type { CacheStore } from '../cache/cache-store';
import { EVERY_ENTRY_TAG } from '../invalidation/first-level-cache';

/**
 * A secondary region's cache store: every entry also carries {@link EVERY_ENTRY_TAG}, so bumping that one tag
 * makes every entry of the regional cache a miss (the follower does so when it cannot prove it saw every
 * invalidation: on its first start, and after being away longer than the home region keeps outbox rows).
 *
 * The extra tag rides in the same round trip as the entry's own tags (one more key in the MGET) and in the
 * cache's usual version check, so a fill that read the versions before the flush is never valid after it.
 */
export class RegionalCacheStore implements CacheStore {
  get kind(): CacheStore['kind'] {
    return this.inner.kind;
  }

  constructor(private readonly inner: CacheStore) {}

  read(key: string, tags: readonly string[]) {
    return this.inner.read(key, [...tags, EVERY_ENTRY_TAG]);
  }

  write(key: string, entry: string, ttlSeconds: number): Promise<void> {
    return this.inner.write(key, entry, ttlSeconds);
  }

  bumpTags(tags: readonly string[]): Promise<void> {
    return this.inner.bumpTags(tags);
  }

  tryLock(key: string, ttlMs: number): Promise<string | null> {
    return this.inner.tryLock(key, ttlMs);
  }

  unlock(key: string, token: string): Promise<void> {
    return this.inner.unlock(key, token);
  }

  ping(): Promise<void> {
    return this.inner.ping();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
