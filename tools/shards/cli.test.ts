import type { Client } from 'pg';
import { MIGRATION_LOCK_KEY } from '../../app/src/db/migrations';
import type { PrivatePostgres } from '../local-topology/postgres-replication';
import { runShardsCli } from './cli';
import { shardEndpointsFromEnv } from './endpoints';
import { connect, createLayout, leftovers, moverFor, startShardServers } from './test-support';

describe('shardEndpointsFromEnv', () => {
  it('reads shard 0 from DATABASE_URL and the others from SHARD_ENDPOINTS, preferring migrationUrl', () => {
    const shards = shardEndpointsFromEnv({
      DATABASE_URL: 'postgres://a@h0/db',
      SHARD_ENDPOINTS: JSON.stringify([
        { id: '1', url: 'postgres://app@h1/db', migrationUrl: 'postgres://owner@h1/db' },
        { id: '2', url: 'postgres://app@h2/db' },
      ]),
      SHARDS_REPLICATION_URLS: JSON.stringify({ '2': 'postgres://repl@writer2/db' }),
    });
    expect(shards).toEqual([
      { id: '0', url: 'postgres://a@h0/db', replicationUrl: 'postgres://a@h0/db' },
      { id: '1', url: 'postgres://owner@h1/db', replicationUrl: 'postgres://owner@h1/db' },
      { id: '2', url: 'postgres://app@h2/db', replicationUrl: 'postgres://repl@writer2/db' },
    ]);
  });

  it('names every bad key and its fix at once', () => {
    expect(() =>
      shardEndpointsFromEnv({
        SHARD_ENDPOINTS: '[{"id":"1","url":"x"},{"id":"0","url":"postgres://h"}]',
        SHARDS_ADMIN_URLS: '[]',
      }),
    ).toThrow(
      /SHARDS_ADMIN_URLS must be a JSON object.*DATABASE_URL \(or SHARDS_ADMIN_URL\) is not set.*SHARD_ENDPOINTS\[0\] \(shard "1"\) has no postgres:\/\/ "url".*SHARD_ENDPOINTS\[1\]\.id must be .* not "0"/,
    );
  });
});

describe('npm run shards (real servers)', () => {
  let servers: PrivatePostgres[];
  let admin: Client[];
  let env: NodeJS.ProcessEnv;

  async function cli(...argv: string[]): Promise<{ code: number; out: string }> {
    const lines: string[] = [];
    const code = await runShardsCli(argv, env, (line) => lines.push(line));
    return { code, out: lines.join('\n') };
  }

  beforeAll(async () => {
    servers = await startShardServers(3);
    // 6 logical shards: 0-2 on shard 0, 3-5 on shard 1; shard 2 just added, empty
    await createLayout(
      servers.map((s) => s.url),
      { logicalShards: 6, assignment: ['0', '0', '0', '1', '1', '1'] },
    );
    admin = await Promise.all(servers.map((s) => connect(s.url)));
    for (const [ls, shard] of [
      [2, 0],
      [5, 1],
    ] as const)
      await admin[shard].query(
        `INSERT INTO ls_00${ls}.users (id, email, name, password_hash)
         SELECT gen_random_uuid(), i || '@x', 'u', 'x' FROM generate_series(1, 500) i`,
      );
    env = {
      DATABASE_URL: servers[0].url,
      SHARD_ENDPOINTS: JSON.stringify(servers.slice(1).map((s, i) => ({ id: String(i + 1), url: s.url }))),
      // The app instances' refresh interval: the fence waits 100 + 250 ms before its REVOKE.
      SHARD_MAP_REFRESH_MS: '100',
    };
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled((admin ?? []).map((db) => db.end()));
    await Promise.allSettled((servers ?? []).map((s) => s.stop()));
  });

  it('status lists logical shards per physical shard and no moves', async () => {
    const { code, out } = await cli('status');
    expect(code).toBe(0);
    expect(out).toMatch(/shard 0: 3 logical shards\nshard 1: 3 logical shards\nshard 2: 0 logical shards/);
    expect(out).toMatch(/moves in flight: none/);
  });

  it('rejects bad usage with exit code 2 and says what to give', async () => {
    expect(await cli('move', '3')).toEqual({
      code: 2,
      out: expect.stringMatching(/move needs --to <shardId>/),
    });
    expect(await cli('move', 'x', '--to', '2')).toEqual({
      code: 2,
      out: expect.stringMatching(/"x" is not a logical shard/),
    });
    expect(await cli('move', '3', '--to', '9')).toEqual({
      code: 2,
      out: expect.stringMatching(/--to 9: no such shard \(configured: 0, 1, 2\)/),
    });
    expect(await cli('shuffle')).toEqual({
      code: 2,
      out: expect.stringMatching(/unknown command "shuffle"/),
    });
    expect(await cli('verify', '3')).toEqual({ code: 3, out: expect.stringMatching(/no move in flight/) });
    // the fence's wait comes from the app's own variable: a bad one is named before anything runs
    const lines: string[] = [];
    const code = await runShardsCli(
      ['move', '3', '--to', '2'],
      { ...env, SHARD_MAP_REFRESH_MS: 'fast' },
      (l) => lines.push(l),
    );
    expect({ code, out: lines.join('\n') }).toEqual({
      code: 2,
      out: expect.stringMatching(
        /SHARD_MAP_REFRESH_MS must be .* from 100 to 60000 \(ms\), got "fast"; or pass --map-refresh-ms/,
      ),
    });
  });

  it('move --dry-run and rebalance --dry-run print what they would do and change nothing', async () => {
    const move = await cli('move', '2,5', '--to', '2', '--dry-run');
    expect(move.out).toBe('would move ls 2: 0 -> 2\nwould move ls 5: 1 -> 2');
    const plan = await cli('rebalance', '--dry-run', '--batch', '1');
    expect(plan.code).toBe(0);
    expect(plan.out).toMatch(/after: 0: 2, 1: 2, 2: 2 \(max\/mean 1\.000\)/);
    expect(plan.out).toMatch(/moves: 2 \(33\.3% of the logical shards\), 2 batches/);
    expect(plan.out).toMatch(/batch 1: ls 2 0 -> 2\n {2}batch 2: ls 5 1 -> 2/);
    expect((await cli('status')).out).toMatch(/shard 2: 0 logical shards/);
  });

  it('a move waits for a running migration (its advisory lock) and gives up with a clear error', async () => {
    // GIVEN a migration holding the migrations' lock on shard 2
    const migration = await connect(servers[2].url);
    await migration.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      // WHEN a move to shard 2 starts
      const { code, out } = await cli('move', '2', '--to', '2', '--lock-timeout-ms', '500');
      // THEN it refuses, names the lock and the shard, and has done nothing yet
      expect(code).toBe(3);
      expect(out).toMatch(/a schema migration holds the migration lock \(7262001\) on shard "2"/);
    } finally {
      await migration.end();
    }
    expect((await cli('abort', '2')).out).toMatch(/aborted the move of ls 2/);
    for (const s of servers) expect(await leftovers(s.url)).toEqual([]);
  });

  it('a migration cannot take its lock while a move runs; verify and status show the move in flight', async () => {
    let lockedDuringMove: boolean | undefined;
    let verifyDuringMove: string | undefined;
    let statusDuringMove: string | undefined;
    const { mover, close } = await moverFor(servers, {
      afterStep: async (step) => {
        if (step !== 'verified') return;
        const probe = await connect(servers[0].url);
        const { rows } = await probe.query('SELECT pg_try_advisory_lock($1) AS ok', [MIGRATION_LOCK_KEY]);
        lockedDuringMove = !rows[0].ok;
        await probe.end();
        verifyDuringMove = (await cli('verify', '2')).out;
        statusDuringMove = (await cli('status')).out;
      },
    });
    try {
      await mover.move(2, '2');
    } finally {
      await close();
    }
    expect(lockedDuringMove).toBe(true);
    expect(verifyDuringMove).toMatch(/users: source 500 rows, target 500 rows, 1 ranges\nidentical/);
    expect(statusDuringMove).toMatch(/moves in flight:\n {2}ls 2: 0 -> 2, step verified, slot lag \d+ bytes/);
    expect(statusDuringMove).not.toMatch(/leftover slot/);
  }, 60_000);

  it('verify reports a damaged copy (exit 1), and the exact verify after the fence rolls the move back', async () => {
    // GIVEN ls 0 with 300 users, moving to shard 1, and a row deleted on the target behind replication's back
    await admin[0].query(
      `INSERT INTO ls_000.users (id, email, name, password_hash) SELECT gen_random_uuid(), i || '@v', 'u', 'x' FROM generate_series(1, 300) i`,
    );
    let verifyOut: { code: number; out: string } | undefined;
    const { mover, control, close } = await moverFor(servers, {
      afterStep: async (step) => {
        if (step !== 'verified') return;
        await admin[1].query(
          'DELETE FROM ls_000.users WHERE id = (SELECT id FROM ls_000.users ORDER BY id LIMIT 1)',
        );
        verifyOut = await cli('verify', '0');
      },
    });
    try {
      // WHEN the move goes on to the fence
      const error = await mover.move(0, '1').catch((err: Error) => err);

      // THEN verify named the range and the counts, and the move was rolled back
      expect(verifyOut?.code).toBe(1);
      expect(verifyOut?.out).toMatch(/users: source 300 rows, target 299 rows/);
      expect(verifyOut?.out).toMatch(
        /users: rows with key in \(-inf, \+inf\] differ \(source 300, target 299\)/,
      );
      expect((error as Error).message).toMatch(
        /differs between source and target after the fence; the move was aborted/,
      );
      expect(await control.entry(0)).toMatchObject({ shardId: '0', state: 'active' });
      const { rows } = await admin[1].query('SELECT count(*)::int AS n FROM ls_000.users');
      expect(rows[0].n).toBe(0);
      for (const s of servers) expect(await leftovers(s.url)).toEqual([]);
    } finally {
      await close();
    }
  }, 60_000);

  it('rebalance runs the plan a batch at a time and leaves the shards even', async () => {
    const { code, out } = await cli(
      'rebalance',
      '--batch',
      '1',
      '--pause-ms',
      '10',
      '--rollback-window-ms',
      '100',
    );
    expect(code).toBe(0);
    expect(out).toMatch(/moved ls 5: 1 -> 2/);
    expect(out).toMatch(/batch 1\/1 done|moves: 1/);
    expect((await cli('status')).out).toMatch(
      /shard 0: 2 logical shards\nshard 1: 2 logical shards\nshard 2: 2 logical shards/,
    );
    const { rows } = await admin[2].query('SELECT count(*)::int AS n FROM ls_005.users');
    expect(rows[0].n).toBe(500);
    for (const s of servers) expect(await leftovers(s.url)).toEqual([]);
  }, 60_000);
});
