import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import type { RedisCallGuard } from '../redis-breaker';
import type { CacheStore } from './cache-store';

// Tag versions outlive any entry (CACHE_TTL_SECONDS is at most a day), so an expired version counter can
// never make an old entry look current again.
const TAG_TTL_SECONDS = 2 * 86_400;

const UNLOCK_SCRIPT = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/**
 * Redis cache adapter, shared by every instance. Keys: `<prefix>c:<key>` entries, `<prefix>t:<tag>` tag
 * versions, `<prefix>l:<key>` loader locks.
 */
export class RedisCacheStore implements CacheStore {
  readonly kind = 'redis' as const;

  /**
   * @param client an ioredis client (fail-fast options: see createRedisClient)
   * @param prefix key prefix, e.g. `shop:`
   * @param ownsClient close the client in close()
   * @param guard runs every call (the instance's Redis circuit breaker); absent = calls go straight through
   */
  constructor(
    private readonly client: Redis,
    private readonly prefix: string,
    private readonly ownsClient = false,
    private readonly guard?: RedisCallGuard,
  ) {}

  private run<T>(call: () => Promise<T>): Promise<T> {
    return this.guard ? this.guard.run(call) : call();
  }

  read(key: string, tags: readonly string[]) {
    return this.run(() => this.readNow(key, tags));
  }

  private async readNow(key: string, tags: readonly string[]) {
    // One command, one round trip: the entry and its tags' versions (a non-cluster group, so any keys go
    // together). A plain MGET costs the client far less than a pipeline of GET and MGET.
    const keys = [`${this.prefix}c:${key}`];
    for (const tag of tags) keys.push(`${this.prefix}t:${tag}`);
    const [entry, ...versions] = await this.client.mget(keys);
    return { entry: entry ?? null, tagVersions: versions.map((v) => Number(v ?? 0)) };
  }

  async write(key: string, entry: string, ttlSeconds: number): Promise<void> {
    await this.run(() => this.client.set(`${this.prefix}c:${key}`, entry, 'EX', ttlSeconds));
  }

  async bumpTags(tags: readonly string[]): Promise<void> {
    if (tags.length === 0) return;
    await this.run(() => this.bumpNow(tags));
  }

  private async bumpNow(tags: readonly string[]): Promise<void> {
    const pipeline = this.client.multi();
    for (const tag of tags) {
      pipeline.incr(`${this.prefix}t:${tag}`).expire(`${this.prefix}t:${tag}`, TAG_TTL_SECONDS);
    }
    const results = (await pipeline.exec()) ?? [];
    for (const [err] of results) if (err) throw err;
  }

  async tryLock(key: string, ttlMs: number): Promise<string | null> {
    const token = randomUUID();
    const ok = await this.run(() => this.client.set(`${this.prefix}l:${key}`, token, 'PX', ttlMs, 'NX'));
    return ok === 'OK' ? token : null;
  }

  async unlock(key: string, token: string): Promise<void> {
    await this.run(() => this.client.eval(UNLOCK_SCRIPT, 1, `${this.prefix}l:${key}`, token));
  }

  async ping(): Promise<void> {
    await this.run(() => this.client.ping());
  }

  async close(): Promise<void> {
    if (this.ownsClient) this.client.disconnect();
  }
}
