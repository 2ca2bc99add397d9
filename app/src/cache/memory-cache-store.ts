import { randomUUID } from 'node:crypto';
import type { CacheStore } from './cache-store';

/** In-process cache adapter for one instance (the embedded default). Bounded: evicts the oldest entries. */
export class MemoryCacheStore implements CacheStore {
  readonly kind = 'memory' as const;
  private readonly entries = new Map<string, { entry: string; expiresAt: number }>();
  private readonly tags = new Map<string, number>();
  private readonly locks = new Map<string, { token: string; expiresAt: number }>();

  /** @param maxEntries entries kept before the oldest are evicted. */
  constructor(private readonly maxEntries = 10_000) {}

  async read(key: string, tags: readonly string[]) {
    const found = this.entries.get(key);
    let entry: string | null = null;
    if (found && found.expiresAt > Date.now()) entry = found.entry;
    else if (found) this.entries.delete(key);
    return { entry, tagVersions: tags.map((tag) => this.tags.get(tag) ?? 0) };
  }

  async write(key: string, entry: string, ttlSeconds: number): Promise<void> {
    this.entries.delete(key);
    this.entries.set(key, { entry, expiresAt: Date.now() + ttlSeconds * 1000 });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  async bumpTags(tags: readonly string[]): Promise<void> {
    for (const tag of tags) this.tags.set(tag, (this.tags.get(tag) ?? 0) + 1);
  }

  async tryLock(key: string, ttlMs: number): Promise<string | null> {
    const held = this.locks.get(key);
    if (held && held.expiresAt > Date.now()) return null;
    const token = randomUUID();
    this.locks.set(key, { token, expiresAt: Date.now() + ttlMs });
    return token;
  }

  async unlock(key: string, token: string): Promise<void> {
    if (this.locks.get(key)?.token === token) this.locks.delete(key);
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.entries.clear();
    this.locks.clear();
  }
}
