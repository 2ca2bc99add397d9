import type { CacheStore } from './cache-store';

/** Caching turned off (`CACHE_STORE=none`): nothing is stored, every lookup is a miss. */
export class NoCacheStore implements CacheStore {
  readonly kind = 'none' as const;

  async read(_key: string, tags: readonly string[]) {
    return { entry: null, tagVersions: tags.map(() => 0) };
  }

  async write(): Promise<void> {}

  async bumpTags(): Promise<void> {}

  async tryLock(): Promise<string | null> {
    return 'unlocked';
  }

  async unlock(): Promise<void> {}

  async ping(): Promise<void> {}

  async close(): Promise<void> {}
}
