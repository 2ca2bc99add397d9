import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Client } from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { migrationsDir } from '../../src/paths';
import { LOGICAL_SHARDS, logicalShard, safeSchema, shardSchema } from '../../src/sharding/logical-shard';
import { startPglite } from '../support/pglite';
import { createTestDatabase, type TestDatabase } from '../support/postgres';

// The control migration defines control.logical_shard(uuid, n), the SQL twin of logicalShard().
let database: TestDatabase;
let client: Client;

beforeAll(async () => {
  database = await createTestDatabase();
  client = new Client({ connectionString: database.url });
  await client.connect();
  const sql = await readFile(path.join(migrationsDir, 'control', '001_shard_map.sql'), 'utf8');
  // The migration grants to the app role; a bare test database may not have it yet.
  await client.query(
    `DO $$ BEGIN CREATE ROLE shop_app NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`,
  );
  await client.query('CREATE SCHEMA control');
  await client.query(`SET search_path TO control; ${sql}`);
});

afterAll(async () => {
  await client?.end();
  await database?.drop();
});

test.each([LOGICAL_SHARDS, 480])(
  'TypeScript and SQL agree on the logical shard of 100,000 ids (N=%i)',
  async (n) => {
    // GIVEN 100,000 ids made in SQL, with SQL's logical shard of each. Random-looking but fixed (md5 of a
    // counter), so the spread check below is a fact about these ids, not a 1-in-15 chance of failing: with
    // fresh random ids the emptiest of 480 shards falls under 75 % of the mean in about 7 % of runs.
    const { rows } = await client.query<{ id: string; ls: number }>(
      `SELECT id::text AS id, control.logical_shard(id, $1) AS ls
       FROM (SELECT md5('logical-shard-test-' || i)::uuid AS id FROM generate_series(1, 100000) i) ids`,
      [n],
    );
    expect(rows).toHaveLength(100_000);
    // THEN the TypeScript function gives the same shard for every one
    const disagreeing = rows.filter((row) => logicalShard(row.id, n) !== row.ls);
    expect(disagreeing).toEqual([]);
    // AND every logical shard gets ids, within 25% of the mean (100,000 / N is about 390 at N=256)
    const counts = new Array<number>(n).fill(0);
    for (const row of rows) counts[row.ls] += 1;
    expect(Math.min(...counts)).toBeGreaterThan((100_000 / n) * 0.75);
    expect(Math.max(...counts)).toBeLessThan((100_000 / n) * 1.25);
  },
);

test('the app-made UUIDv7 ids (and upper-case spellings) route the same in both', async () => {
  const ids = Array.from({ length: 2000 }, () => uuidv7());
  const { rows } = await client.query<{ ls: number }>(
    'SELECT control.logical_shard(id, $2) AS ls FROM unnest($1::uuid[]) WITH ORDINALITY AS t(id, n) ORDER BY n',
    [ids, LOGICAL_SHARDS],
  );
  expect(rows.map((row) => row.ls)).toEqual(ids.map((id) => logicalShard(id)));
  expect(ids.map((id) => logicalShard(id.toUpperCase()))).toEqual(ids.map((id) => logicalShard(id)));
});

test('the embedded PGlite computes the same function', async () => {
  const pglite = await startPglite();
  try {
    const sql = await readFile(path.join(migrationsDir, 'control', '001_shard_map.sql'), 'utf8');
    await pglite.exec(
      `CREATE ROLE shop_app NOLOGIN; CREATE SCHEMA control; SET search_path TO control; ${sql}`,
    );
    const { rows } = await pglite.query<{ id: string; ls: number }>(
      `SELECT id::text AS id, control.logical_shard(id, ${LOGICAL_SHARDS}) AS ls
       FROM (SELECT gen_random_uuid() AS id FROM generate_series(1, 5000)) ids`,
    );
    expect(rows.filter((row) => logicalShard(row.id) !== row.ls)).toEqual([]);
  } finally {
    await pglite.close();
  }
});

test('schema names are three digits, and nothing else passes as a schema', () => {
  expect(shardSchema(0)).toBe('ls_000');
  expect(shardSchema(255)).toBe('ls_255');
  expect(() => shardSchema(-1)).toThrow(/logical shard -1/);
  expect(safeSchema('ls_017')).toBe('ls_017');
  expect(safeSchema('public')).toBe('public');
  for (const bad of ['ls_17', 'ls_017; DROP TABLE users', 'control', 'LS_017', 'ls_0170'])
    expect(() => safeSchema(bad)).toThrow(/is not a shard schema/);
});
