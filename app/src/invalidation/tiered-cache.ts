import { Cache, type CacheOptions } from '../cache/cache';
import type { CacheStore } from '../cache/cache-store';
import type { FirstLevelCache } from './first-level-cache';

/**
 * The {@link Cache} with the first-level cache in front: a lookup is answered from this process when it
 * can, else from the shared store (Redis) as before, and kept here for the first-level TTL. Everything
 * else (tags, stampede protection, fail-open) is the shared cache's. A drop-in for `Cache` where the app
 * builds it; reads inside a user's read-your-writes window bypass `getOrLoad` altogether, and so both levels.
 */
export class TieredCache extends Cache {
  constructor(
    store: CacheStore,
    options: CacheOptions,
    readonly firstLevel: FirstLevelCache,
  ) {
    super(store, options);
  }

  override getOrLoad<T>(
    key: string,
    tags: readonly string[],
    loader: () => Promise<T>,
    ttlSeconds?: number,
  ): Promise<T> {
    return this.firstLevel.getOrLoad(key, tags, () => super.getOrLoad(key, tags, loader, ttlSeconds));
  }
}
