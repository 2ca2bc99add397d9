import type { Database } from '../../src/db/database';
import { QueryTimeoutError } from '../../src/db/database';
import type { ReadRouter } from '../../src/read-routing';
import { mergeSorted, ScatterGather } from '../../src/sharding/scatter-gather';
import type { ShardMapCache } from '../../src/sharding/shard-map';
import { UserDataRouter, type PhysicalShard } from '../../src/sharding/user-data-router';

// The fan-out itself, on stand-in shards whose reads the test controls: how many run at once, which schemas each
// shard is asked for, and what a failing or silent shard does to the result.

/** A shard whose readWithin answers when the test says so (or fails), recording the statements it got. */
function fakeShard(id: string) {
  const pending: { resolve: (rows: unknown[]) => void; reject: (err: Error) => void }[] = [];
  const statements: string[] = [];
  const db = {
    readWithin: (text: string) => {
      statements.push(text);
      return new Promise<{ rows: unknown[] }>((resolve, reject) =>
        pending.push({ resolve: (rows) => resolve({ rows }), reject }),
      );
    },
  } as unknown as Database;
  const shard: PhysicalShard = { id, db, reads: {} as ReadRouter };
  return { shard, pending, statements };
}

function router(shards: PhysicalShard[], placement: string[]): UserDataRouter {
  const map = {
    entries: placement.map((shardId, logicalShard) => ({ logicalShard, shardId, state: 'active', epoch: 1 })),
  } as unknown as ShardMapCache;
  return UserDataRouter.sharded(shards, map, placement.length);
}

test('at most `concurrency` shards are queried at once; each gets the schemas the map places there', async () => {
  const fakes = ['0', '1', '2', '3', '4'].map(fakeShard);
  // 10 logical shards, 2 per physical shard, interleaved.
  const placement = Array.from({ length: 10 }, (_, i) => String(i % 5));
  const scatter = new ScatterGather(
    router(
      fakes.map((f) => f.shard),
      placement,
    ),
    {
      shardTimeoutMs: 1000,
      concurrency: 2,
    },
  );
  const done = scatter.gather<{ n: number }>((schemas) => schemas.join(','), []);
  const inFlight = () => fakes.reduce((n, f) => n + f.pending.length, 0);
  await new Promise((resolve) => setImmediate(resolve));
  expect(inFlight()).toBe(2);
  let answered = 0;
  while (answered < 5) {
    const next = fakes.find((f) => f.pending.length > 0)!;
    next.pending.shift()!.resolve([{ n: Number(next.shard.id) }]);
    answered += 1;
    await new Promise((resolve) => setImmediate(resolve));
    expect(inFlight()).toBeLessThanOrEqual(2);
  }
  const result = await done;
  expect(result.missingShards).toEqual([]);
  expect(result.answers.map((a) => a.shardId)).toEqual(['0', '1', '2', '3', '4']);
  expect(fakes.map((f) => f.statements)).toEqual([
    ['ls_000,ls_005'],
    ['ls_001,ls_006'],
    ['ls_002,ls_007'],
    ['ls_003,ls_008'],
    ['ls_004,ls_009'],
  ]);
});

test('a shard that times out or fails is missing, the others answer; a shard without logical shards is not asked', async () => {
  const fakes = ['0', '1', '2', '3'].map(fakeShard);
  const missing: string[] = [];
  const scatter = new ScatterGather(
    router(
      fakes.map((f) => f.shard),
      ['0', '1', '2', '0'],
    ),
    {
      shardTimeoutMs: 1000,
      concurrency: 8,
      onShardMissing: (shardId) => missing.push(shardId),
    },
  );
  const done = scatter.gather((schemas) => schemas.join(','), []);
  await new Promise((resolve) => setImmediate(resolve));
  expect(fakes[3].statements).toEqual([]);
  fakes[0].pending[0].resolve([{ a: 1 }]);
  fakes[1].pending[0].reject(new QueryTimeoutError(1000));
  fakes[2].pending[0].reject(new Error('connection refused'));
  const result = await done;
  expect(result.answers).toEqual([{ shardId: '0', rows: [{ a: 1 }] }]);
  expect(result.missingShards).toEqual(['1', '2']);
  expect(missing.sort()).toEqual(['1', '2']);
});

test('unsharded: one target, the public tables of shard 0', () => {
  const zero = fakeShard('0');
  const scatter = new ScatterGather(UserDataRouter.unsharded(zero.shard), {
    shardTimeoutMs: 1,
    concurrency: 1,
  });
  expect(scatter.targets()).toEqual([{ shard: zero.shard, schemas: ['public'] }]);
});

test('mergeSorted: the first `limit` of sorted lists, and whether more remain', () => {
  const asc = (a: number, b: number) => a - b;
  expect(mergeSorted([[1, 4, 9], [2, 3], [], [5]], asc, 4)).toEqual({ items: [1, 2, 3, 4], more: true });
  expect(mergeSorted([[1, 4], [2]], asc, 3)).toEqual({ items: [1, 2, 4], more: false });
  expect(mergeSorted([], asc, 3)).toEqual({ items: [], more: false });
});
