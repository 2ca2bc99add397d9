import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Client } from 'pg';
import { appEntryArgs } from '../local-topology/app-entry';
import type { PrivatePostgres } from '../local-topology/postgres-replication';
import { MOVE_STEPS, type MoveStep } from './control';
import { appUrl, connect, createLayout, leftovers, startShardServers } from './test-support';

/**
 * Runs the shard manager (`npm run shards -- <args>`, as app-entry.ts starts it) as a real child process; with
 * `pauseAfter`, SIGKILLs it once it reaches that step.
 */
function runCli(
  servers: PrivatePostgres[],
  args: string[],
  pauseAfter?: MoveStep,
  when: 'after' | 'before recording' = 'after',
): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...appEntryArgs('shards-cli'), ...args], {
      cwd: path.join(__dirname, '..', '..'),
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: servers[0].url,
        // The fence waits one map refresh bound before its REVOKE; no app instance runs here.
        SHARD_MAP_REFRESH_MS: '100',
        SHARD_ENDPOINTS: JSON.stringify([{ id: '1', url: servers[1].url }]),
        ...(pauseAfter && when === 'after' ? { SHARDS_PAUSE_AFTER_STEP: pauseAfter } : {}),
        ...(pauseAfter && when !== 'after' ? { SHARDS_PAUSE_BEFORE_RECORDING: pauseAfter } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`shards ${args.join(' ')} did not finish in 60 s:\n${output}`));
    }, 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (pauseAfter && output.includes(`paused ${when} ${pauseAfter}`)) child.kill('SIGKILL');
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

async function snapshot(db: Client, schema: string): Promise<string> {
  const { rows } = await db.query<{ s: string }>(
    `SELECT (SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY id)) FROM ${schema}.users t) || '|' ||
            (SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY id)) FROM ${schema}.orders t) || '|' ||
            (SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY order_id, line_no)) FROM ${schema}.order_items t) AS s`,
  );
  return rows[0].s;
}

const schemaOf = (ls: number) => `ls_${String(ls).padStart(3, '0')}`;

/**
 * Steps whose work leaves something behind before it is recorded. "synced" (waiting for the copy) and "verified"
 * (comparing) only read: killed before recording them, the recorded state is exactly that of a kill after the
 * step before ("subscribed", "indexed"), which the first cases cover already.
 */
const WRITING_STEPS = MOVE_STEPS.slice(1).filter((step) => step !== 'synced' && step !== 'verified');

describe('shard manager killed (SIGKILL) after each step, then run again', () => {
  let servers: PrivatePostgres[];
  let admin: Client[];
  // one logical shard per case: killed after each step, 2 aborts, the flip case, killed before recording a step
  const logical = MOVE_STEPS.length + 3 + WRITING_STEPS.length;
  const before = new Map<number, string>();

  beforeAll(async () => {
    servers = await startShardServers(2);
    // Every logical shard on shard 0, its schema only there: the target schema is made by pg_dump (pre-data),
    // and the source schema is dropped at the end.
    await createLayout(
      servers.map((s) => s.url),
      { logicalShards: logical, everywhere: false },
    );
    admin = await Promise.all(servers.map((s) => connect(s.url)));
    for (let ls = 0; ls < logical; ls++) {
      const schema = schemaOf(ls);
      await admin[0].query(
        `INSERT INTO ${schema}.users (id, email, name, password_hash)
         SELECT gen_random_uuid(), 'u' || i || '@example.com', 'user ' || i, 'x' FROM generate_series(1, 200) i;
         INSERT INTO ${schema}.orders (id, user_id, total_cents) SELECT gen_random_uuid(), id, 100 FROM ${schema}.users;
         INSERT INTO ${schema}.order_items (order_id, line_no, user_id, product_id, name, quantity, unit_price_cents)
         SELECT id, 1, user_id, gen_random_uuid(), 'mug', 3, 100 FROM ${schema}.orders;`,
      );
      before.set(ls, await snapshot(admin[0], schema));
    }
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled((admin ?? []).map((db) => db.end()));
    await Promise.allSettled((servers ?? []).map((s) => s.stop()));
  });

  /** Never a half state: the map names one shard, active (or fenced on the source), and no app write goes astray. */
  async function expectWhole(ls: number): Promise<'0' | '1'> {
    const { rows } = await admin[0].query(
      'SELECT shard_id, state FROM control.shard_map WHERE logical_shard = $1',
      [ls],
    );
    const { shard_id: shardId, state } = rows[0] as { shard_id: string; state: string };
    if (shardId === '1') expect(state).toBe('active');
    else expect(['active', 'fenced']).toContain(state);
    return shardId as '0' | '1';
  }

  async function expectMoved(ls: number): Promise<void> {
    const { rows } = await admin[0].query(
      'SELECT shard_id, state FROM control.shard_map WHERE logical_shard = $1',
      [ls],
    );
    expect(rows[0]).toEqual({ shard_id: '1', state: 'active' });
    expect(await snapshot(admin[1], schemaOf(ls))).toBe(before.get(ls));
    const { rows: gone } = await admin[0].query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [
      schemaOf(ls),
    ]);
    expect(gone).toEqual([]);
    const { rows: moves } = await admin[0].query(
      'SELECT * FROM control.shard_moves WHERE logical_shard = $1',
      [ls],
    );
    expect(moves).toEqual([]);
    for (const s of servers) expect(await leftovers(s.url)).toEqual([]);
    // the app may write it on its new shard
    const app = await connect(appUrl(servers[1].url));
    try {
      await app.query(
        `INSERT INTO ${schemaOf(ls)}.users (id, email, name, password_hash) VALUES (gen_random_uuid(), 'new@x', 'n', 'x')`,
      );
      await app.query(`DELETE FROM ${schemaOf(ls)}.users WHERE email = 'new@x'`);
    } finally {
      await app.end();
    }
  }

  async function expectRolledBack(ls: number): Promise<void> {
    const { rows } = await admin[0].query(
      'SELECT shard_id, state FROM control.shard_map WHERE logical_shard = $1',
      [ls],
    );
    expect(rows[0]).toEqual({ shard_id: '0', state: 'active' });
    expect(await snapshot(admin[0], schemaOf(ls))).toBe(before.get(ls));
    const { rows: copy } = await admin[1].query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [
      schemaOf(ls),
    ]);
    expect(copy).toEqual([]);
    for (const s of servers) expect(await leftovers(s.url)).toEqual([]);
    const app = await connect(appUrl(servers[0].url));
    try {
      await app.query(
        `INSERT INTO ${schemaOf(ls)}.users (id, email, name, password_hash) VALUES (gen_random_uuid(), 'new@x', 'n', 'x')`,
      );
      await app.query(`DELETE FROM ${schemaOf(ls)}.users WHERE email = 'new@x'`);
    } finally {
      await app.end();
    }
  }

  it.each(MOVE_STEPS.map((step, ls) => [step, ls] as const))(
    'killed after "%s": the rerun completes the move',
    async (step, ls) => {
      // GIVEN a manager killed right after recording the step
      const killed = await runCli(
        servers,
        ['move', String(ls), '--to', '1', '--rollback-window-ms', '100'],
        step,
      );
      expect(killed.signal).toBe('SIGKILL');
      expect(killed.output).toContain(`paused after ${step}`);
      await expectWhole(ls);

      // WHEN it runs again
      const rerun = await runCli(servers, ['move', String(ls), '--to', '1', '--rollback-window-ms', '100']);

      // THEN the move is complete: data identical on the target, source gone, no slot anywhere
      expect(rerun.output).toContain(`moved ls ${ls}: 0 -> 1`);
      expect(rerun.code).toBe(0);
      await expectMoved(ls);
    },
    90_000,
  );

  it.each([
    ['subscribed', MOVE_STEPS.length],
    ['fenced', MOVE_STEPS.length + 1],
  ] as const)(
    'killed after "%s", then abort: rolled back to the source, nothing left behind',
    async (step, ls) => {
      const killed = await runCli(servers, ['move', String(ls), '--to', '1'], step);
      expect(killed.signal).toBe('SIGKILL');
      expect(await expectWhole(ls)).toBe('0');

      const abort = await runCli(servers, ['abort', String(ls)]);

      expect(abort.output).toContain(`aborted the move of ls ${ls}`);
      expect(abort.code).toBe(0);
      await expectRolledBack(ls);
    },
    90_000,
  );

  it('refuses to abort past the flip, and the rerun finishes the clean-up', async () => {
    const ls = MOVE_STEPS.length + 2;
    await runCli(servers, ['move', String(ls), '--to', '1', '--rollback-window-ms', '100'], 'flipped');

    const abort = await runCli(servers, ['abort', String(ls)]);
    expect(abort.code).toBe(3);
    expect(abort.output).toMatch(/already points at the target shard "1".*npm run shards -- move \d+ --to 1/);

    const rerun = await runCli(servers, ['move', String(ls), '--to', '1', '--rollback-window-ms', '100']);
    expect(rerun.code).toBe(0);
    await expectMoved(ls);
  }, 90_000);

  it.each(WRITING_STEPS.map((step, i) => [step, MOVE_STEPS.length + 3 + i] as const))(
    'killed with the work of "%s" done but not recorded: the rerun redoes it and completes the move',
    async (step, ls) => {
      const killed = await runCli(
        servers,
        ['move', String(ls), '--to', '1', '--rollback-window-ms', '100'],
        step,
        'before recording',
      );
      expect(killed.signal).toBe('SIGKILL');
      expect(killed.output).toContain(`paused before recording ${step}`);
      await expectWhole(ls);

      const rerun = await runCli(servers, ['move', String(ls), '--to', '1', '--rollback-window-ms', '100']);

      expect(rerun.output).toContain(`moved ls ${ls}: 0 -> 1`);
      expect(rerun.code).toBe(0);
      await expectMoved(ls);
    },
    90_000,
  );
});
