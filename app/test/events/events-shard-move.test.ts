/**
 * Domain events across a logical shard's move (stage 100k's shard manager): the outbox is per physical database,
 * the users consumer's dedupe records live in the logical shard's schema beside the rows they guard. Two private
 * Postgres servers (wal_level=logical), Redis Streams as the bus, the monolith's relays and consumers in process.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import Redis from 'ioredis';
import type { Client } from 'pg';
import { buildApp } from '../../src/app';
import { seedCatalog } from '../../src/db/seed';
import type { DomainEvent } from '../../src/events/domain-event';
import { RedisEventBus } from '../../src/events/redis-event-bus';
import { logicalShard, shardSchema } from '../../src/sharding/logical-shard';
import { startShardedPostgres, type ShardedPostgres } from '../../../tools/local-topology/postgres-shards';
import { PgShardControl } from '../../../tools/shards/control';
import { ShardMover } from '../../../tools/shards/move';
import { connect } from '../../../tools/shards/test-support';
import { signUp, testConfig } from '../support/app';
import { createTestRedisPrefix, TEST_REDIS_URL, type TestRedisPrefix } from '../support/redis';
import { until } from '../support/wait';

let servers: ShardedPostgres;
let redis: TestRedisPrefix;
let app: FastifyInstance;
const clients: Client[] = [];

beforeAll(async () => {
  servers = await startShardedPostgres({
    shards: 2,
    settings: {
      max_replication_slots: '10',
      max_wal_senders: '10',
      fsync: 'off',
      wal_receiver_status_interval: '1',
      wal_retrieve_retry_interval: '200ms',
    },
  });
  redis = createTestRedisPrefix();
  app = await buildApp({
    config: testConfig({
      DATABASE_URL: servers.urls[0],
      SHARD_ENDPOINTS: JSON.stringify([{ id: '1', url: servers.urls[1] }]),
      SHARD_MAP_REFRESH_MS: '200',
      SHARD_WRITE_WAIT_MS: '3000',
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: redis.prefix,
      EVENT_BUS: 'redis',
    }),
    logger: false,
  });
}, 180_000);

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.end()));
  await app?.close();
  await redis?.cleanup();
  await servers?.stop();
});

async function on(url: string): Promise<Client> {
  const client = await connect(url);
  clients.push(client);
  return client;
}

test('a logical shard moves: an event written on the source before the move is applied on the target, a redelivery after it is still recognised, nothing counted twice', async () => {
  const {
    ids: [productId],
  } = await seedCatalog(app.shop.db.writer, 1);
  const user = await signUp(app);
  const me = async () =>
    (await app.inject({ method: 'GET', url: '/api/me', headers: { cookie: user.cookie } })).json().user
      .orderCount as number;
  const order = async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/api/orders',
      headers: { cookie: user.cookie },
      payload: { items: [{ productId, quantity: 1 }] },
    });
    expect(response.statusCode).toBe(201);
  };
  const logical = logicalShard(user.user.id);
  const schema = shardSchema(logical);
  const control = await on(servers.urls[0]);
  const { rows: placed } = await control.query<{ shard_id: string }>(
    'SELECT shard_id FROM control.shard_map WHERE logical_shard = $1',
    [logical],
  );
  const from = placed[0].shard_id;
  const to = from === '0' ? '1' : '0';
  const source = await on(servers.urls[Number(from)]);
  const target = await on(servers.urls[Number(to)]);

  // GIVEN three orders counted, their dedupe records in the user's schema on the source
  for (let i = 0; i < 3; i++) await order();
  await until(async () => (await me()) === 3, 'the order count to reach 3');
  const { rows: records } = await source.query(`SELECT event_id FROM ${schema}.processed_events`);
  expect(records).toHaveLength(3);
  const { rows: sent } = await source.query<{ envelope: DomainEvent }>(
    "SELECT envelope FROM public.event_outbox WHERE type = 'OrderPlaced'",
  );
  expect(sent).toHaveLength(3);

  // AND a fourth order whose event is still unsent on the source when the move happens (its relay paused)
  const sourceRelay = app.shop.events!.relays.get(from === '0' ? 'main' : `shard-${from}`)!;
  await sourceRelay.stop();
  await order();
  expect(await sourceRelay.pending()).toBeGreaterThanOrEqual(1);

  // WHEN the shard manager moves the logical shard to the other server
  const mover = new ShardMover({
    control: new PgShardControl(control),
    shards: servers.urls.map((url, i) => ({ id: String(i), url, replicationUrl: url })),
    connect: (shard) => connect(shard.url),
    rollbackWindowMs: 1000,
    fenceTimeoutMs: 5000,
  });
  try {
    await mover.move(logical, to);
  } finally {
    await mover.close();
  }
  // the dedupe records moved with the rows
  const { rows: moved } = await target.query(`SELECT event_id FROM ${schema}.processed_events`);
  expect(moved).toHaveLength(3);

  // THEN the source's relay, back, publishes the event written there before the move; it is applied on the target
  sourceRelay.start();
  await until(async () => (await me()) === 4, 'the fourth order to be counted on the target');

  // AND the first three delivered again (a relay that died before marking them sent) change nothing
  const probe = new Redis(TEST_REDIS_URL);
  try {
    const bus = new RedisEventBus(probe, { prefix: redis.prefix });
    // (plus one applied before the move from the unsharded layout: its record is in shard 0's public table)
    const legacy = { ...sent[0].envelope, id: randomUUID() };
    await control.query("INSERT INTO public.processed_events (consumer, event_id) VALUES ('users', $1)", [
      legacy.id,
    ]);
    await bus.publish([...sent.map((r) => r.envelope), legacy]);
    const stream = bus.queue('users').streamKey;
    await until(async () => (await probe.xlen(stream)) === 0, 'the redelivered events to be handled');
  } finally {
    probe.disconnect();
  }
  expect(await me()).toBe(4);

  // AND an order after the move is written, with its event, on the target, and counted
  await order();
  await until(async () => (await me()) === 5, 'the fifth order to be counted');
  const { rows: onTarget } = await target.query(
    "SELECT count(*)::int AS n FROM public.event_outbox WHERE type = 'OrderPlaced'",
  );
  expect(onTarget[0].n).toBe(1);
  const { rows: count } = await target.query(`SELECT order_count FROM ${schema}.users WHERE id = $1`, [
    user.user.id,
  ]);
  expect(count[0].order_count).toBe(5);

  // AND the owner cancels an order on the target: OrderCancelled from the target's outbox gives the stock back
  // on the catalog (shard 0)
  const stock = async () =>
    Number(
      (await app.shop.db.query<{ stock: number }>('SELECT stock FROM products WHERE id = $1', [productId]))
        .rows[0].stock,
    );
  const before = await stock();
  const { rows: latest } = await target.query<{ id: string }>(
    `SELECT id FROM ${schema}.orders WHERE user_id = $1 ORDER BY id DESC LIMIT 1`,
    [user.user.id],
  );
  const cancelled = await app.inject({
    method: 'POST',
    url: `/api/orders/${latest[0].id}/cancel`,
    headers: { cookie: user.cookie },
  });
  expect(cancelled.statusCode).toBe(200);
  await until(async () => (await stock()) === before + 1, 'the stock of the cancelled order to come back');
}, 120_000);
