import { ConfigError, loadConfig } from '../../src/config';
import type { SqlExecutor } from '../../src/db/database';
import {
  assertShardMapUsable,
  ShardMapCache,
  ShardUnavailableError,
  type ShardMapEntry,
  type ShardMapSnapshot,
} from '../../src/sharding/shard-map';
import { until } from '../support/wait';

const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shard-1-app-AbCdEf';

function map(n: number, shardOf: (ls: number) => string, recorded: number | null = n): ShardMapSnapshot {
  const entries = Array.from({ length: n }, (_, ls) => ({
    logicalShard: ls,
    shardId: shardOf(ls),
    state: 'active' as const,
    epoch: 1,
  }));
  return { entries, epoch: 1, logicalShards: recorded };
}

describe('SHARD_ENDPOINTS', () => {
  const base = { NODE_ENV: 'test', DB_HOST: 'shard0.example', DB_NAME: 'shop', DB_SECRET_ARN: ARN };

  test('the AWS form: RDS Proxy endpoints and the shard secret, DB_NAME and DB_SSL for every shard', () => {
    const config = loadConfig({
      ...base,
      DB_SSL: 'verify-full',
      SHARD_ENDPOINTS: JSON.stringify([
        { id: '1', writerHost: 'w1.proxy', readerHost: 'r1.proxy', port: 5432, secretArn: ARN },
      ]),
    });
    expect(config.sharding?.logicalShards).toBe(256);
    const [shard] = config.sharding!.shards;
    expect(shard.id).toBe('1');
    expect(shard.database).toMatchObject({
      kind: 'postgres',
      writer: { host: 'w1.proxy', port: 5432, database: 'shop', ssl: { rejectUnauthorized: true } },
      reader: { host: 'r1.proxy', port: 5432, database: 'shop' },
      secretArn: ARN,
    });
    expect(shard.description).toEqual({ writer: 'w1.proxy:5432', reader: 'r1.proxy:5432' });
  });

  test('the local form: URLs, recorded without their credentials', () => {
    const config = loadConfig({
      NODE_ENV: 'test',
      DATABASE_URL: 'postgres://app:pw@127.0.0.1:5432/shop',
      SHARD_ENDPOINTS: '[{"id":"1","url":"postgres://app:secret@127.0.0.1:5433/shop"}]',
    });
    expect(config.sharding!.shards[0].description).toEqual({ writer: 'postgres://127.0.0.1:5433/shop' });
  });

  test('unset: the unsharded layout; [] on PGlite: every logical shard in the embedded database', () => {
    expect(loadConfig({ NODE_ENV: 'test' }).sharding).toBeUndefined();
    expect(loadConfig({ NODE_ENV: 'test', SHARD_ENDPOINTS: '[]' }).sharding?.shards).toEqual([]);
  });

  test.each([
    [
      'a shard id used twice',
      `[{"id":"1","url":"postgres://a/b"},{"id":"1","url":"postgres://c/d"}]`,
      /SHARD_ENDPOINTS lists shard id "1" twice: give every shard its own id/,
    ],
    ['not JSON', '{id:1}', /SHARD_ENDPOINTS is not valid JSON .*give a JSON array/],
    ['not an array', '{"id":"1"}', /SHARD_ENDPOINTS must be a JSON array/],
    ['shard 0 listed', '[{"id":"0","url":"postgres://a/b"}]', /SHARD_ENDPOINTS\[0\]\.id .*not "0"/],
    [
      'no endpoint',
      '[{"id":"1"}]',
      /SHARD_ENDPOINTS\[0\] \(shard "1"\) needs exactly one of "url" and "writerHost"/,
    ],
    [
      'a typo',
      '[{"id":"1","url":"postgres://a/b","readerURL":"x"}]',
      /SHARD_ENDPOINTS\[0\]\.readerURL is not a known field/,
    ],
    [
      'a bad secret',
      '[{"id":"1","writerHost":"w","secretArn":"shard-1"}]',
      /SHARD_ENDPOINTS\[0\]\.secretArn must be a Secrets Manager secret ARN/,
    ],
  ])('%s stops start-up naming the key and the fix', (_what, value, message) => {
    expect(() => loadConfig({ ...base, SHARD_ENDPOINTS: value })).toThrow(message);
    expect(() => loadConfig({ ...base, SHARD_ENDPOINTS: value })).toThrow(ConfigError);
  });

  test('shards besides an embedded shard 0 are refused', () => {
    expect(() =>
      loadConfig({ NODE_ENV: 'test', SHARD_ENDPOINTS: '[{"id":"1","url":"postgres://a/b"}]' }),
    ).toThrow(/SHARD_ENDPOINTS lists shards but shard 0 is the embedded PGlite/);
  });
});

describe('the shard map at start-up', () => {
  test('a complete map of configured shards is accepted', () => {
    expect(() =>
      assertShardMapUsable(
        map(16, (ls) => (ls < 8 ? '0' : '1')),
        16,
        ['0', '1'],
      ),
    ).not.toThrow();
  });

  test('a map pointing at a shard missing from SHARD_ENDPOINTS names the shard, the logical shards and the fix', () => {
    expect(() =>
      assertShardMapUsable(
        map(16, (ls) => (ls < 8 ? '0' : '2')),
        16,
        ['0', '1'],
      ),
    ).toThrow(
      'Invalid shard configuration: SHARD_ENDPOINTS: control.shard_map assigns logical shards 8-15 to shard "2", ' +
        'which SHARD_ENDPOINTS does not list: add {"id":"2", ...} back to SHARD_ENDPOINTS, or move those logical ' +
        'shards to a configured shard before removing it',
    );
  });

  test('a map leaving logical shards unassigned names them', () => {
    const snapshot = map(16, () => '0');
    const holes = {
      ...snapshot,
      entries: snapshot.entries.filter((e) => ![3, 4, 5, 9].includes(e.logicalShard)),
    };
    expect(() => assertShardMapUsable(holes, 16, ['0'])).toThrow(
      /control.shard_map leaves logical shards 3-5, 9 unassigned: assign each to a shard \(INSERT INTO control.shard_map/,
    );
  });

  test('N changed after data exists is refused, naming the recorded N', () => {
    expect(() =>
      assertShardMapUsable(
        map(256, () => '0'),
        480,
        ['0'],
      ),
    ).toThrow(
      /logical shard count N: control.settings records 256 .* but this build uses 480; N cannot change once data exists/,
    );
  });
});

describe('ShardMapCache', () => {
  /** A control schema in memory: the map's rows, and a count of the queries the cache sends. */
  function control(entries: ShardMapEntry[]) {
    const state = { entries, queries: 0, texts: [] as string[] };
    const executor: SqlExecutor = {
      query: async <R>(text: string) => {
        state.queries += 1;
        state.texts.push(text);
        if (text.includes('max(epoch)'))
          return { rows: [{ epoch: Math.max(...state.entries.map((e) => e.epoch)) }] as R[] };
        if (text.includes('control.settings')) return { rows: [{ value: '4' }] as R[] };
        return {
          rows: state.entries.map((e) => ({
            logical_shard: e.logicalShard,
            shard_id: e.shardId,
            state: e.state,
            epoch: e.epoch,
          })) as R[],
        };
      },
    };
    return { state, executor };
  }
  const four = (): ShardMapEntry[] =>
    Array.from({ length: 4 }, (_, ls) => ({ logicalShard: ls, shardId: '0', state: 'active', epoch: 1 }));

  test('an epoch change is loaded by the next periodic check; between changes one cheap query per check', async () => {
    const { state, executor } = control(four());
    const cache = new ShardMapCache(executor, { entries: four(), epoch: 1, logicalShards: 4 }, () => {}, {
      refreshMs: 100,
      writeWaitMs: 0,
    });
    cache.start();
    try {
      // The first periodic check (one interval after start) finds the map unchanged: one max(epoch) query.
      await until(() => state.queries >= 1, 'the first periodic check');
      expect(state.texts.every((text) => text.includes('max(epoch)'))).toBe(true);
      // A change is picked up by the very next check: the map reloads at once, not some checks later. (Checks
      // come every refreshMs from the timer, so "the next check" is "within the interval" without timing it.)
      const atChange = state.queries;
      state.entries[2] = { logicalShard: 2, shardId: '1', state: 'active', epoch: 2 };
      await until(() => cache.entry(2).shardId === '1', 'the change to be loaded');
      const reloadAt = state.texts.findIndex(
        (text, i) => i >= atChange && text.includes('FROM control.shard_map ORDER BY'),
      );
      expect(reloadAt).toBeGreaterThan(atChange);
      const checksBeforeReload = state.texts.slice(atChange, reloadAt);
      expect(checksBeforeReload.filter((text) => text.includes('max(epoch)'))).toHaveLength(1);
      // Unchanged map afterwards: only max(epoch) checks, no reload (which would be 2 more queries each).
      const before = state.queries;
      await until(() => state.queries >= before + 3, 'three more periodic checks');
      expect(state.texts.slice(before).every((text) => text.includes('max(epoch)'))).toBe(true);
      expect(cache.epoch).toBe(2);
    } finally {
      cache.stop();
    }
  });

  test('a write to a fenced logical shard waits, then fails with 503 and Retry-After; one that turns active proceeds', async () => {
    const entries = four();
    entries[1] = { ...entries[1], state: 'fenced', epoch: 2 };
    const { state, executor } = control(entries);
    const cache = new ShardMapCache(
      executor,
      { entries: [...entries], epoch: 2, logicalShards: 4 },
      () => {},
      {
        refreshMs: 1000,
        writeWaitMs: 300,
      },
    );
    const started = Date.now();
    const failure = await cache.writable(1).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(ShardUnavailableError);
    expect((failure as ShardUnavailableError).statusCode).toBe(503);
    expect((failure as ShardUnavailableError).retryAfterSeconds).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    // Moved meanwhile: the wait ends with the new place as soon as the map says so.
    const waiting = cache.writable(1);
    state.entries[1] = { logicalShard: 1, shardId: '1', state: 'active', epoch: 3 };
    await expect(waiting).resolves.toMatchObject({ shardId: '1', state: 'active' });
    await expect(cache.writable(0)).resolves.toMatchObject({ shardId: '0' });
  });

  test('a reload that fails validation keeps the last good map', async () => {
    const { state, executor } = control(four());
    const errors: Error[] = [];
    const cache = new ShardMapCache(
      executor,
      { entries: four(), epoch: 1, logicalShards: 4 },
      (next) => assertShardMapUsable(next, 4, ['0']),
      { refreshMs: 1000, writeWaitMs: 0, onError: (err) => errors.push(err) },
    );
    state.entries[3] = { logicalShard: 3, shardId: '9', state: 'active', epoch: 2 };
    await cache.check();
    expect(cache.entry(3).shardId).toBe('0');
    expect(errors[0].message).toMatch(/shard "9", which SHARD_ENDPOINTS does not list/);
  });
});
