import { Cache } from '../src/cache/cache';
import { MemoryCacheStore } from '../src/cache/memory-cache-store';
import { parseLsn, ReplicaInvalidation } from '../src/cache/replica-invalidation';
import type { Database } from '../src/db/database';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A database double that only reports a replica replay position the test moves. */
function replicaAt(position: { lsn: string | null; fail?: boolean }): Database {
  return {
    hasReplica: true,
    replicaReplayLsn: async () => {
      if (position.fail) throw new Error('replica down');
      return position.lsn;
    },
  } as unknown as Database;
}

test('parseLsn orders WAL positions numerically', () => {
  expect(parseLsn('0/16B3748') < parseLsn('0/16B3749')).toBe(true);
  expect(parseLsn('1/0') > parseLsn('0/FFFFFFFF')).toBe(true);
  expect(parseLsn('16/B374D848')).toBe(0x16b374d848n);
  expect(() => parseLsn('nope')).toThrow('not a WAL position: "nope"');
});

describe('ReplicaInvalidation', () => {
  let cache: Cache;
  let loads: number;
  const read = () => cache.getOrLoad('product:1', ['product:1'], async () => ++loads);

  beforeEach(() => {
    cache = new Cache(new MemoryCacheStore(), { ttlSeconds: 60 });
    loads = 0;
  });

  test('invalidates again only once the replica has replayed past the write', async () => {
    const position = { lsn: '0/100' as string | null };
    const invalidation = new ReplicaInvalidation(cache, replicaAt(position), {
      maxWaitMs: 10_000,
      pollMs: 10,
    });
    await read(); // value 1 cached (say, stale from the lagging replica)
    invalidation.schedule(['product:1'], '0/200');
    await sleep(60);
    expect(await read()).toBe(1); // replica still at 0/100: nothing happens
    expect(invalidation.pending).toBe(1);
    position.lsn = '0/200';
    await sleep(60);
    expect(invalidation.pending).toBe(0);
    expect(await read()).toBe(2); // reloaded after the second invalidation
    invalidation.close();
  });

  test('gives up waiting after maxWaitMs, also when the replica is unreachable', async () => {
    const invalidation = new ReplicaInvalidation(cache, replicaAt({ lsn: null, fail: true }), {
      maxWaitMs: 80,
      pollMs: 10,
    });
    await read();
    invalidation.schedule(['product:1'], '0/200');
    await sleep(30);
    expect(await read()).toBe(1);
    await sleep(120);
    expect(invalidation.pending).toBe(0);
    expect(await read()).toBe(2);
    invalidation.close();
  });

  test('without a replica nothing is queued; close drops what is pending', async () => {
    const none = new ReplicaInvalidation(cache, { hasReplica: false } as Database, { maxWaitMs: 10 });
    none.schedule(['product:1'], '0/1');
    expect(none.pending).toBe(0);
    const invalidation = new ReplicaInvalidation(cache, replicaAt({ lsn: '0/0' }), { maxWaitMs: 10_000 });
    invalidation.schedule(['product:1'], '0/1');
    invalidation.close();
    expect(invalidation.pending).toBe(0);
  });
});
