import Redis from 'ioredis';
import { Cache } from '../src/cache/cache';
import type { CacheStore } from '../src/cache/cache-store';
import { MemoryCacheStore } from '../src/cache/memory-cache-store';
import { RedisCacheStore } from '../src/cache/redis-cache-store';
import { AppMetrics } from '../src/metrics';
import { createRedisClient } from '../src/redis';
import { createTestRedisPrefix, TEST_REDIS_URL, type TestRedisPrefix } from './support/redis';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `condition` holds (a busy machine may need far more than a fixed sleep); fails after 10 s. */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

interface Adapter {
  /** Two stores sharing one backing store, as two app instances would. */
  open(): { a: CacheStore; b: CacheStore };
  close(): Promise<void>;
}

const redisPrefix: TestRedisPrefix = createTestRedisPrefix();
const redisClients: Redis[] = [];

const adapters: [string, Adapter][] = [
  [
    'memory',
    {
      open: () => {
        const shared = new MemoryCacheStore();
        return { a: shared, b: shared };
      },
      close: async () => {},
    },
  ],
  [
    'redis',
    {
      open: () => {
        const [c1, c2] = [new Redis(TEST_REDIS_URL), new Redis(TEST_REDIS_URL)];
        redisClients.push(c1, c2);
        return {
          a: new RedisCacheStore(c1, redisPrefix.prefix),
          b: new RedisCacheStore(c2, redisPrefix.prefix),
        };
      },
      close: async () => {
        for (const client of redisClients.splice(0)) client.disconnect();
      },
    },
  ],
];

afterAll(async () => {
  await redisPrefix.cleanup();
});

describe.each(adapters)('cache contract (%s adapter)', (_name, adapter) => {
  let stores: { a: CacheStore; b: CacheStore };
  let metrics: AppMetrics;
  let cache: Cache;
  let n = 0;
  const key = () => `k${Date.now()}-${++n}`;

  beforeEach(() => {
    stores = adapter.open();
    metrics = new AppMetrics();
    cache = new Cache(stores.a, { ttlSeconds: 60, metrics });
  });
  afterEach(() => adapter.close());

  test('cache-aside: the loader runs on a miss only, hits and misses are counted', async () => {
    const k = key();
    const loader = jest.fn(async () => ({ value: 42, at: 'now' }));
    expect(await cache.getOrLoad(k, ['catalog'], loader)).toEqual({ value: 42, at: 'now' });
    expect(await cache.getOrLoad(k, ['catalog'], loader)).toEqual({ value: 42, at: 'now' });
    expect(loader).toHaveBeenCalledTimes(1);
    expect(await metrics.counterValue('cache_requests_total', 'miss')).toBe(1);
    expect(await metrics.counterValue('cache_requests_total', 'hit')).toBe(1);
  });

  test('null results are cached too (no repeated database trips for a missing row)', async () => {
    const k = key();
    const loader = jest.fn(async () => null);
    await cache.getOrLoad(k, [], loader);
    expect(await cache.getOrLoad(k, [], loader)).toBeNull();
    expect(loader).toHaveBeenCalledTimes(1);
  });

  test('entries expire after their TTL', async () => {
    const k = key();
    const ttlSeconds = 2;
    let version = 0;
    const loader = async () => ++version;
    const storedAfter = Date.now();
    expect(await cache.getOrLoad(k, [], loader, ttlSeconds)).toBe(1);
    // A hit inside the TTL (the clock check keeps this meaningful on a slow machine rather than flaky).
    expect(await cache.getOrLoad(k, [], loader, ttlSeconds)).toBe(1);
    expect(Date.now() - storedAfter).toBeLessThan(ttlSeconds * 1000);
    // Poll until the entry is gone: every read before that is a hit, and it is gone only once the TTL passed.
    const deadline = Date.now() + ttlSeconds * 1000 + 10_000;
    let value = 1;
    while (value === 1 && Date.now() < deadline) {
      await sleep(100);
      value = await cache.getOrLoad(k, [], loader, ttlSeconds);
    }
    const expiredBy = Date.now();
    expect(value).toBe(2);
    expect(version).toBe(2); // no load in between: the polling reads before expiry were hits
    expect(expiredBy - storedAfter).toBeGreaterThanOrEqual(ttlSeconds * 1000);
  });

  test('invalidating a tag drops every entry tagged with it and only those', async () => {
    const [p1, p2, list] = [key(), key(), key()];
    const load = (v: string) => jest.fn(async () => v);
    await cache.getOrLoad(p1, ['product:1'], load('p1'));
    await cache.getOrLoad(p2, ['product:2'], load('p2'));
    await cache.getOrLoad(list, ['catalog'], load('list'));

    await cache.invalidateTags(['product:1', 'catalog']);
    const again = { p1: load('p1 new'), p2: load('p2 new'), list: load('list new') };
    expect(await cache.getOrLoad(p1, ['product:1'], again.p1)).toBe('p1 new');
    expect(await cache.getOrLoad(p2, ['product:2'], again.p2)).toBe('p2');
    expect(await cache.getOrLoad(list, ['catalog'], again.list)).toBe('list new');
    expect(again.p2).not.toHaveBeenCalled();
  });

  test('an invalidation seen by another instance: tags are shared through the store', async () => {
    const other = new Cache(stores.b, { ttlSeconds: 60 });
    const k = key();
    await cache.getOrLoad(k, ['product:9'], async () => 'old');
    expect(await other.getOrLoad(k, ['product:9'], async () => 'unexpected')).toBe('old');
    await other.invalidateTags(['product:9']);
    expect(await cache.getOrLoad(k, ['product:9'], async () => 'new')).toBe('new');
  });

  test('a slow loader that finishes after an invalidation cannot store a stale value', async () => {
    const k = key();
    let release!: () => void;
    const slow = cache.getOrLoad(
      k,
      ['product:7'],
      () => new Promise<string>((r) => (release = () => r('stale'))),
    );
    await until(() => release !== undefined, 'the slow loader to start');
    await cache.invalidateTags(['product:7']);
    release();
    expect(await slow).toBe('stale'); // the caller that started before the write gets what it loaded
    expect(await cache.getOrLoad(k, ['product:7'], async () => 'fresh')).toBe('fresh');
  });

  test('stampede protection: 50 concurrent misses on one key in one instance run the loader once', async () => {
    const k = key();
    const loader = jest.fn(async () => {
      await sleep(100);
      return 'value';
    });
    const results = await Promise.all(
      Array.from({ length: 50 }, () => cache.getOrLoad(k, ['catalog'], loader)),
    );
    expect(results.every((r) => r === 'value')).toBe(true);
    expect(loader).toHaveBeenCalledTimes(1);
  });

  test('stampede protection across two instances sharing the store: one loader per key', async () => {
    const other = new Cache(stores.b, { ttlSeconds: 60 });
    const k = key();
    const loader = jest.fn(async () => {
      await sleep(150);
      return 'shared';
    });
    const results = await Promise.all([
      ...Array.from({ length: 20 }, () => cache.getOrLoad(k, ['catalog'], loader)),
      ...Array.from({ length: 20 }, () => other.getOrLoad(k, ['catalog'], loader)),
    ]);
    expect(new Set(results)).toEqual(new Set(['shared']));
    expect(loader).toHaveBeenCalledTimes(1);
  });

  test('a loader that finishes between a second instance miss and its lock is not run again (double-check under the lock)', async () => {
    // GIVEN instance B reads a miss, and only then (its tryLock held back) instance A loads, stores and unlocks
    let missed!: () => void;
    const bMissed = new Promise<void>((r) => (missed = r));
    let aDone!: () => void;
    const aFinished = new Promise<void>((r) => (aDone = r));
    const slowLocking: CacheStore = Object.assign(Object.create(stores.b) as CacheStore, {
      read: async (key: string, tags: readonly string[]) => {
        const result = await stores.b.read(key, tags);
        missed();
        return result;
      },
      tryLock: async (key: string, ttlMs: number) => {
        await aFinished;
        return stores.b.tryLock(key, ttlMs);
      },
    });
    const other = new Cache(slowLocking, { ttlSeconds: 60 });
    const k = key();
    const loader = jest.fn(async () => 'once');
    const fromB = other.getOrLoad(k, ['catalog'], loader);
    await bMissed;
    expect(await cache.getOrLoad(k, ['catalog'], loader)).toBe('once');
    aDone();
    // THEN B takes the free lock, finds A's entry and returns it without loading
    expect(await fromB).toBe('once');
    expect(loader).toHaveBeenCalledTimes(1);
  });

  test('a waiter whose loader finished with a stale value loads at once instead of waiting out the lock', async () => {
    // GIVEN another instance loading a key, and a waiter that would wait up to 30 s for its result
    const waiter = new Cache(stores.b, { ttlSeconds: 60, lockWaitMs: 30_000 });
    const k = key();
    let release!: () => void;
    const slow = cache.getOrLoad(
      k,
      ['catalog'],
      () => new Promise<string>((r) => (release = () => r('old page'))),
    );
    await until(() => release !== undefined, 'the first loader to start');
    const waiting = waiter.getOrLoad(k, ['catalog'], async () => 'new page');
    // WHEN a write invalidates the tag while the first loader runs, and that loader then finishes
    await sleep(50);
    await cache.invalidateTags(['catalog']);
    release();
    await slow;
    // THEN the waiter loads the fresh value as soon as the lock is free (well before its 30 s wait)
    const started = Date.now();
    expect(await waiting).toBe('new page');
    expect(Date.now() - started).toBeLessThan(5_000);
    // and what it stored is valid under the new tag version
    expect(await cache.getOrLoad(k, ['catalog'], async () => 'reloaded')).toBe('new page');
  });

  test('loader errors reach the caller and are not cached', async () => {
    const k = key();
    await expect(cache.getOrLoad(k, [], async () => Promise.reject(new Error('db down')))).rejects.toThrow(
      'db down',
    );
    expect(await cache.getOrLoad(k, [], async () => 'recovered')).toBe('recovered');
  });
});

describe('fail-open: Redis unreachable', () => {
  test('lookups are served by the loader, counted as errors and logged; invalidation does not throw', async () => {
    // Port 1 on localhost: connection refused, as when ElastiCache is unreachable.
    const client = createRedisClient({ host: '127.0.0.1', port: 1, tls: false, keyPrefix: 'x:' });
    client.on('error', () => {});
    const metrics = new AppMetrics();
    const warnings: string[] = [];
    const errors: string[] = [];
    const cache = new Cache(new RedisCacheStore(client, 'x:', true), {
      ttlSeconds: 60,
      metrics,
      logger: {
        warn: (obj, msg) => {
          warnings.push(msg);
          errors.push(String((obj as { err?: unknown }).err));
        },
      },
    });
    try {
      const started = Date.now();
      expect(await cache.getOrLoad('k', ['catalog'], async () => 'from the database')).toBe(
        'from the database',
      );
      expect(await cache.getOrLoad('k', ['catalog'], async () => 'again from the database')).toBe(
        'again from the database',
      );
      await expect(cache.invalidateTags(['catalog'])).resolves.toBeUndefined();
      // Fails fast, no offline queue: each failure is the immediate refusal to queue, not the end of a wait for
      // a reconnection (with a queue they end as "Reached the max retries per request limit" after about
      // 1.2 s in all), and the whole sequence stays far below that wait even on a busy machine.
      expect(errors).toHaveLength(3);
      for (const error of errors) expect(error).toMatch(/enableOfflineQueue options is false/);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(await metrics.counterValue('cache_requests_total', 'error')).toBe(3);
      expect(warnings).toContain('cache read failed; serving from the database');
    } finally {
      await cache.store.close();
    }
  });

  test('a Redis that goes away mid-flight: the next lookups still succeed', async () => {
    const prefix = createTestRedisPrefix();
    const client = createRedisClient({
      url: TEST_REDIS_URL,
      port: 6379,
      tls: false,
      keyPrefix: prefix.prefix,
    });
    client.on('error', () => {});
    await client.connect();
    const metrics = new AppMetrics();
    const cache = new Cache(new RedisCacheStore(client, prefix.prefix, true), { ttlSeconds: 60, metrics });
    try {
      expect(await cache.getOrLoad('k', [], async () => 1)).toBe(1);
      client.disconnect(); // the connection drops
      expect(await cache.getOrLoad('k', [], async () => 2)).toBe(2);
      expect(await metrics.counterValue('cache_requests_total', 'error')).toBeGreaterThanOrEqual(1);
    } finally {
      await prefix.cleanup();
    }
  });
});
