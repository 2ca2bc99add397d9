import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app';
import { PgliteDatabase } from '../../src/db/pglite-database';
import { LOGICAL_SHARDS, logicalShard, shardSchema } from '../../src/sharding/logical-shard';
import { signUp, testConfig } from '../support/app';
import { startPglite } from '../support/pglite';
import { describeShopApi } from '../support/shop-api-cases';

// The sharded layout on the embedded default: SHARD_ENDPOINTS=[] puts every logical shard on the one PGlite
// (shard 0), which also holds the catalog and the control schema.
let app: FastifyInstance;
let migratedMs: number;
const adminEmail = 'admin-embedded-sharded@example.test';

beforeAll(async () => {
  const started = Date.now();
  app = await buildApp({
    config: testConfig({ ADMIN_EMAILS: adminEmail, SHARD_ENDPOINTS: '[]' }),
    database: async (observe) => PgliteDatabase.wrap(await startPglite(), { observe }),
    logger: false,
  });
  migratedMs = Date.now() - started;
}, 300_000);

afterAll(async () => {
  await app?.close();
});

describeShopApi('embedded, sharded: all logical shards on one PGlite', () => ({ app, adminEmail }));

test('every logical shard is on shard 0, and a user lives in their logical shard schema', async () => {
  expect(app.shop.db.kind).toBe('pglite');
  expect(app.shop.userData.sharded).toBe(true);
  const { rows } = await app.shop.db.query<{ shard_id: string; n: number }>(
    'SELECT shard_id, count(*)::int AS n FROM control.shard_map GROUP BY 1',
  );
  expect(rows).toEqual([{ shard_id: '0', n: LOGICAL_SHARDS }]);
  const { user } = await signUp(app);
  const found = await app.shop.db.query<{ id: string }>(
    `SELECT id FROM ${shardSchema(logicalShard(user.id))}.users WHERE id = $1`,
    [user.id],
  );
  expect(found.rows).toEqual([{ id: user.id }]);
  process.stdout.write(`embedded sharded start (PGlite, ${LOGICAL_SHARDS} schemas): ${migratedMs} ms\n`);
});
