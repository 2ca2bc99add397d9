import { FirstLevelCache } from '../../src/invalidation/first-level-cache';
import { InProcessEvictionBroadcast } from '../../src/invalidation/eviction-broadcast';
import { until } from '../support/wait';

describe('FirstLevelCache', () => {
  test('a hit is served from the process; hits and misses are counted', async () => {
    const results: string[] = [];
    const cache = new FirstLevelCache({ observe: (r) => results.push(r) });
    const load = jest.fn(async () => ({ name: 'kettle' }));
    expect(await cache.getOrLoad('product:1', ['product:1'], load)).toEqual({ name: 'kettle' });
    expect(await cache.getOrLoad('product:1', ['product:1'], load)).toEqual({ name: 'kettle' });
    expect(load).toHaveBeenCalledTimes(1);
    expect(results).toEqual(['miss', 'hit']);
  });

  test('bounded: beyond maxEntries the least recently used entry goes', async () => {
    const cache = new FirstLevelCache({ maxEntries: 2 });
    await cache.getOrLoad('a', [], async () => 'A');
    await cache.getOrLoad('b', [], async () => 'B');
    await cache.getOrLoad('a', [], async () => 'unused'); // a is now the most recent
    await cache.getOrLoad('c', [], async () => 'C');
    expect(cache.size).toBe(2);
    expect(await cache.getOrLoad('a', [], async () => 'A again')).toBe('A');
    expect(await cache.getOrLoad('b', [], async () => 'B again')).toBe('B again');
  });

  test('entries expire after the TTL (the bound on staleness when a broadcast is missed)', async () => {
    const cache = new FirstLevelCache({ ttlMs: 150 });
    const storedAt = Date.now();
    await cache.getOrLoad('k', [], async () => 'old');
    let value = 'old';
    while (value === 'old') {
      await new Promise((r) => setTimeout(r, 10));
      value = await cache.getOrLoad('k', [], async () => 'new');
    }
    expect(Date.now() - storedAt).toBeGreaterThanOrEqual(150);
  });

  test('evicting a tag drops exactly the entries carrying it', async () => {
    const cache = new FirstLevelCache();
    await cache.getOrLoad('product:1', ['product:1'], async () => 'p1');
    await cache.getOrLoad('product:2', ['product:2'], async () => 'p2');
    await cache.getOrLoad('page:1', ['catalog'], async () => 'page');
    cache.evictTags(['product:1', 'catalog']);
    expect(await cache.getOrLoad('product:1', ['product:1'], async () => 'p1 new')).toBe('p1 new');
    expect(await cache.getOrLoad('product:2', ['product:2'], async () => 'p2 new')).toBe('p2');
    expect(await cache.getOrLoad('page:1', ['catalog'], async () => 'page new')).toBe('page new');
  });

  test('a load that overlaps an eviction of its tag is returned but not kept (it may predate the write)', async () => {
    const cache = new FirstLevelCache();
    let release!: (v: string) => void;
    const slow = cache.getOrLoad('product:7', ['product:7'], () => new Promise<string>((r) => (release = r)));
    await until(() => release !== undefined, 'the load to start');
    cache.evictTags(['product:7']);
    release('read before the write');
    expect(await slow).toBe('read before the write');
    expect(await cache.getOrLoad('product:7', ['product:7'], async () => 'fresh')).toBe('fresh');
    // Once a load starts after the eviction, its value is kept again.
    expect(await cache.getOrLoad('product:7', ['product:7'], async () => 'unused')).toBe('fresh');
  });

  test('an eviction of another tag does not stop a load from being kept', async () => {
    const cache = new FirstLevelCache();
    let release!: (v: string) => void;
    const slow = cache.getOrLoad('product:8', ['product:8'], () => new Promise<string>((r) => (release = r)));
    await until(() => release !== undefined, 'the load to start');
    cache.evictTags(['product:9']);
    release('v');
    await slow;
    expect(await cache.getOrLoad('product:8', ['product:8'], async () => 'unused')).toBe('v');
  });

  test('clear() during a load (a broadcast gap) keeps nothing from before it', async () => {
    const cache = new FirstLevelCache();
    await cache.getOrLoad('x', ['t'], async () => 'x');
    let release!: (v: string) => void;
    const slow = cache.getOrLoad('y', ['u'], () => new Promise<string>((r) => (release = r)));
    await until(() => release !== undefined, 'the load to start');
    cache.clear();
    release('y');
    await slow;
    expect(cache.size).toBe(0);
  });

  test('concurrent misses on one key share one load', async () => {
    const cache = new FirstLevelCache();
    const load = jest.fn(async () => {
      await new Promise((r) => setTimeout(r, 20));
      return 'v';
    });
    const values = await Promise.all(Array.from({ length: 20 }, () => cache.getOrLoad('k', ['t'], load)));
    expect(values.every((v) => v === 'v')).toBe(true);
    expect(load).toHaveBeenCalledTimes(1);
  });

  test('subscribed to the in-process broadcast, a published eviction reaches it', async () => {
    const cache = new FirstLevelCache();
    const broadcast = new InProcessEvictionBroadcast();
    await broadcast.subscribe(cache);
    await cache.getOrLoad('product:3', ['product:3'], async () => 'old');
    await broadcast.publish(['product:3']);
    expect(await cache.getOrLoad('product:3', ['product:3'], async () => 'new')).toBe('new');
  });
});
