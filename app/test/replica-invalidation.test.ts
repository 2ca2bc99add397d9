import { Cache } from '../src/cache/cache';
import { MemoryCacheStore } from '../src/cache/memory-cache-store';
import { parseLsn, ReplicaInvalidation } from '../src/cache/replica-invalidation';
import type { Database } from '../src/db/database';
import type { ReplayPosition } from '../src/db/replay-position';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `condition` every 10 ms until it holds; fails after a deadline generous enough for a busy CI box. */
async function eventually(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** A database double whose replica reports a replay position the test moves, and counts how often it is asked. */
function replicaAt(position: { current: ReplayPosition; fail?: boolean; asked: number }): Database {
  return {
    hasReplica: true,
    replicaReplayPosition: async () => {
      position.asked += 1;
      if (position.fail) throw new Error('replica down');
      return position.current;
    },
  } as unknown as Database;
}

const replaying = (lsn: string): ReplayPosition => ({ state: 'replaying', lsn });

test('parseLsn orders WAL positions numerically', () => {
  expect(parseLsn('0/16B3748') < parseLsn('0/16B3749')).toBe(true);
  expect(parseLsn('1/0') > parseLsn('0/FFFFFFFF')).toBe(true);
  expect(parseLsn('16/B374D848')).toBe(0x16b374d848n);
  expect(() => parseLsn('nope')).toThrow('not a WAL position: "nope"');
});

describe('ReplicaInvalidation', () => {
  let cache: Cache;
  let loads: number;
  let invalidatedAt: number[];
  const read = () => cache.getOrLoad('product:1', ['product:1'], async () => ++loads);

  beforeEach(() => {
    cache = new Cache(new MemoryCacheStore(), { ttlSeconds: 60 });
    loads = 0;
    invalidatedAt = [];
    const invalidateTags = cache.invalidateTags.bind(cache);
    jest.spyOn(cache, 'invalidateTags').mockImplementation(async (tags) => {
      invalidatedAt.push(Date.now());
      return invalidateTags(tags);
    });
  });

  test('invalidates again only once the replica has replayed past the write', async () => {
    const position = { current: replaying('0/100'), asked: 0 };
    const invalidation = new ReplicaInvalidation(cache, replicaAt(position), {
      maxWaitMs: 600_000,
      pollMs: 10,
    });
    await read(); // value 1 cached (say, stale from the lagging replica)
    invalidation.schedule(['product:1'], '0/200');
    // Several polls see the replica at 0/100: nothing happens.
    await eventually(() => position.asked >= 3, 'three polls of the replica');
    expect(await read()).toBe(1);
    expect(invalidation.pending).toBe(1);
    expect(invalidatedAt).toEqual([]);

    position.current = replaying('0/200');
    await eventually(() => invalidation.pending === 0, 'the queue to drain');
    expect(invalidatedAt).toHaveLength(1);
    expect(await read()).toBe(2); // reloaded after the second invalidation
    invalidation.close();
  });

  test('gives up waiting after maxWaitMs (not before), also when the replica is unreachable', async () => {
    const maxWaitMs = 1_500;
    const position = { current: replaying('0/0'), fail: true, asked: 0 };
    const invalidation = new ReplicaInvalidation(cache, replicaAt(position), { maxWaitMs, pollMs: 10 });
    await read();
    const scheduledAt = Date.now();
    invalidation.schedule(['product:1'], '0/200');
    await eventually(() => invalidation.pending === 0, 'the deadline to pass');
    // Failed polls came first and did not count as caught up: the deadline alone released the entry.
    expect(position.asked).toBeGreaterThanOrEqual(2);
    expect(invalidatedAt).toHaveLength(1);
    expect(invalidatedAt[0] - scheduledAt).toBeGreaterThanOrEqual(maxWaitMs);
    expect(await read()).toBe(2);
    invalidation.close();
  });

  test('a reader that reports no replay position (Aurora) is never taken as caught up: only the deadline applies', async () => {
    const maxWaitMs = 1_500;
    const position = { current: { state: 'unknown' } as ReplayPosition, asked: 0 };
    const invalidation = new ReplicaInvalidation(cache, replicaAt(position), { maxWaitMs, pollMs: 10 });
    await read();
    const scheduledAt = Date.now();
    invalidation.schedule(['product:1'], '0/200');
    await eventually(() => invalidation.pending === 0, 'the deadline to pass');
    expect(position.asked).toBeGreaterThanOrEqual(2);
    expect(invalidatedAt[0] - scheduledAt).toBeGreaterThanOrEqual(maxWaitMs);
    expect(await read()).toBe(2);
    invalidation.close();
  });

  test('a reader endpoint that is a primary has every write: invalidated at the first poll', async () => {
    const position = { current: { state: 'primary' } as ReplayPosition, asked: 0 };
    const invalidation = new ReplicaInvalidation(cache, replicaAt(position), {
      maxWaitMs: 600_000,
      pollMs: 10,
    });
    await read();
    invalidation.schedule(['product:1'], '0/200');
    await eventually(() => invalidation.pending === 0, 'the queue to drain');
    expect(position.asked).toBe(1);
    expect(await read()).toBe(2);
    invalidation.close();
  });

  test('without a replica nothing is queued; close drops what is pending', async () => {
    const none = new ReplicaInvalidation(cache, { hasReplica: false } as Database, { maxWaitMs: 10 });
    none.schedule(['product:1'], '0/1');
    expect(none.pending).toBe(0);
    const position = { current: replaying('0/0'), asked: 0 };
    const invalidation = new ReplicaInvalidation(cache, replicaAt(position), { maxWaitMs: 10_000 });
    invalidation.schedule(['product:1'], '0/1');
    invalidation.close();
    expect(invalidation.pending).toBe(0);
  });
});
