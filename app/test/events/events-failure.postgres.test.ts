import type Redis from 'ioredis';
import { v7 as uuidv7 } from 'uuid';
import { runMigrations } from '../../src/db/migrations';
import { PgDatabase } from '../../src/db/pg-database';
import { seedCatalog } from '../../src/db/seed';
import { orderCountEffect } from '../../src/events/consumers/order-count';
import { newDomainEvent, type DomainEvent } from '../../src/events/domain-event';
import { DomainEventPipeline } from '../../src/events/event-pipeline';
import { RedisEventBus } from '../../src/events/redis-event-bus';
import { ReadRouter } from '../../src/read-routing';
import { createRedisClient } from '../../src/redis';
import { OrderRepository } from '../../src/repositories/order-repository';
import { UserRepository } from '../../src/repositories/user-repository';
import { UserDataRouter } from '../../src/sharding/user-data-router';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { createTestRedisPrefix, TEST_REDIS_URL } from '../support/redis';
import { until } from '../support/wait';

// Failure cases of the event flow on the real servers, shared by the whole file: Postgres (outbox, effects,
// dedupe records) and Redis (one stream per consumer, its dead-letter stream).
const redisPrefix = createTestRedisPrefix();
let database: TestDatabase;
let db: PgDatabase;
let redis: Redis;
let router: UserDataRouter;
let productId: string;
const orders = new OrderRepository();
const users = new UserRepository();
let prefixNo = 0;
const pipelines: DomainEventPipeline[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  db = new PgDatabase({ writer: { connectionString: database.url } });
  await runMigrations(db);
  const url = new URL(TEST_REDIS_URL);
  redis = createRedisClient({ host: url.hostname, port: Number(url.port), tls: false, keyPrefix: '' });
  redis.on('error', () => {});
  await redis.connect();
  router = UserDataRouter.unsharded({ id: '0', db, reads: new ReadRouter(db, 0, '0') });
  ({
    ids: [productId],
  } = await seedCatalog(db.writer, 1));
});

afterEach(async () => {
  await Promise.all(pipelines.splice(0).map((p) => p.stop()));
});

afterAll(async () => {
  redis?.disconnect();
  await redisPrefix.cleanup();
  await db?.close();
  await database?.drop();
});

/** A bus of its own per test (its own streams), with short leases so redeliveries come quickly. */
function newBus(prefix: string) {
  return new RedisEventBus(redis, { prefix, leaseMs: 300, maxReceives: 3 });
}

function start(pipeline: DomainEventPipeline): DomainEventPipeline {
  pipelines.push(pipeline);
  pipeline.start();
  return pipeline;
}

async function newUser(): Promise<string> {
  const user = await users.create(db.writer, {
    email: `${uuidv7()}@example.test`,
    name: 'Events',
    passwordHash: 'x',
    role: 'customer',
  });
  return user.id;
}

async function orderCount(userId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>('SELECT order_count AS n FROM users WHERE id = $1', [
    userId,
  ]);
  return Number(rows[0].n);
}

async function placeOrders(userId: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++)
    await orders.place(db.writer, {
      id: uuidv7(),
      userId,
      lines: [{ productId, quantity: 1, field: 'body/items/0/productId' }],
    });
}

async function unsent(): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    'SELECT count(*) AS n FROM event_outbox WHERE sent_at IS NULL',
  );
  return Number(rows[0].n);
}

test('consumer down: events pile up in its stream, drain when it returns, none lost, none applied twice', async () => {
  const prefix = `${redisPrefix.prefix}down${++prefixNo}:`;
  const publisherBus = newBus(prefix);
  // The producer side runs (relay), the users consumer does not.
  start(new DomainEventPipeline({ sources: [{ source: 'main', db }], bus: publisherBus, consumers: {} }));
  const [alice, bob] = [await newUser(), await newUser()];
  await placeOrders(alice, 12);
  await placeOrders(bob, 8);
  const stream = publisherBus.queue('users').streamKey;
  await until(async () => (await unsent()) === 0, 'the relay to publish every event');
  await until(async () => (await redis.xlen(stream)) >= 20, 'the 20 events to pile up in the stream');
  expect(await redis.xlen(stream)).toBe(20);
  expect([await orderCount(alice), await orderCount(bob)]).toEqual([0, 0]);

  // The consumer returns: everything drains, each event applied once.
  const handled: { id: string; outcome: string }[] = [];
  const consumerBus = newBus(prefix);
  start(
    new DomainEventPipeline({
      sources: [],
      bus: consumerBus,
      consumers: { users: { OrderPlaced: orderCountEffect(router) } },
      consumer: { waitMs: 100 },
      onHandled: (event, outcome) => handled.push({ id: event.id, outcome }),
    }),
  );
  await until(async () => (await redis.xlen(stream)) === 0 && handled.length === 20, 'the stream to drain');
  expect([await orderCount(alice), await orderCount(bob)]).toEqual([12, 8]);

  // At-least-once: the same 20 events delivered again (a relay that died after publishing and before marking
  // them sent publishes them again). The dedupe records drop every one of them.
  const { rows } = await db.query<{ envelope: DomainEvent }>(
    "SELECT envelope FROM event_outbox WHERE type = 'OrderPlaced' AND envelope -> 'data' ->> 'userId' = ANY($1)",
    [[alice, bob]],
  );
  expect(rows).toHaveLength(20);
  const result = await publisherBus.publish(rows.map((r) => r.envelope));
  expect(result.accepted).toHaveLength(20);
  await until(() => handled.length === 40, 'the duplicates to be handled');
  expect(handled.slice(20).every((h) => h.outcome === 'duplicate')).toBe(true);
  expect([await orderCount(alice), await orderCount(bob)]).toEqual([12, 8]);
  const { rows: records } = await db.query<{ n: string }>(
    "SELECT count(*) AS n FROM processed_events WHERE consumer = 'users' AND event_id = ANY($1::uuid[])",
    [rows.map((r) => r.envelope.id)],
  );
  expect(Number(records[0].n)).toBe(20);
});

test('a bad event (fails its schema, or its handler) is dead-lettered after N receives and blocks nothing', async () => {
  const prefix = `${redisPrefix.prefix}bad${++prefixNo}:`;
  const bus = newBus(prefix);
  const queue = bus.queue('users');
  const carol = await newUser();
  const invalid = JSON.stringify({ ...newDomainEvent('OrderPlaced', orderData(carol)), version: 2 });
  const noSuchUser = JSON.stringify(newDomainEvent('OrderPlaced', orderData(uuidv7())));
  const good = Array.from({ length: 5 }, () => newDomainEvent('OrderPlaced', orderData(carol)));
  await queue.send(['not json', invalid, noSuchUser, ...good.map((e) => JSON.stringify(e))]);

  const applied: string[] = [];
  start(
    new DomainEventPipeline({
      sources: [],
      bus,
      consumers: { users: { OrderPlaced: orderCountEffect(router) } },
      consumer: { waitMs: 50, batchSize: 2 },
      onHandled: (event) => applied.push(event.id),
    }),
  );
  // The good events behind the bad ones are applied without waiting for the bad ones' fate.
  await until(() => applied.length === 5, 'the good events to be applied');
  expect(await orderCount(carol)).toBe(5);
  await until(async () => (await queue.deadLetters()).length === 3, 'the bad events to be dead-lettered');
  const dead = await queue.deadLetters();
  expect(dead.map((d) => d.body).sort()).toEqual(['not json', invalid, noSuchUser].sort());
  expect(dead.every((d) => d.receiveCount === 3)).toBe(true);
  expect(await redis.xlen(queue.streamKey)).toBe(0);
  // The failed handler wrote nothing: no dedupe record for the event that failed (rolled back with it).
  const { rows } = await db.query<{ n: string }>(
    'SELECT count(*) AS n FROM processed_events WHERE event_id = $1',
    [JSON.parse(noSuchUser).id],
  );
  expect(Number(rows[0].n)).toBe(0);
});

test('the relay refuses an outbox event that fails its schema (marked failed) and publishes the ones behind it', async () => {
  const prefix = `${redisPrefix.prefix}relay${++prefixNo}:`;
  const bus = newBus(prefix);
  // Earlier tests' rows nobody relays (the bad-event test's user): out of this test's way.
  await db.query('UPDATE event_outbox SET sent_at = now() WHERE sent_at IS NULL');
  const bad = { ...newDomainEvent('OrderPlaced', orderData(uuidv7())), data: { orderId: 'x' } };
  await db.query('INSERT INTO event_outbox (event_id, type, envelope) VALUES ($1, $2, $3)', [
    bad.id,
    bad.type,
    JSON.stringify(bad),
  ]);
  const dave = await newUser();
  await placeOrders(dave, 2);
  start(new DomainEventPipeline({ sources: [{ source: 'main', db }], bus, consumers: {} }));
  await until(async () => (await unsent()) === 0, 'the relay to go past the bad row');
  const { rows } = await db.query<{ failed: boolean; error: string | null }>(
    'SELECT failed_at IS NOT NULL AS failed, error FROM event_outbox WHERE event_id = $1',
    [bad.id],
  );
  expect(rows[0].failed).toBe(true);
  expect(rows[0].error).toMatch(/OrderPlaced \/data\/userId is required/);
  const published = await redis.xrange(bus.queue('users').streamKey, '-', '+');
  expect(published).toHaveLength(2);
  expect(published.map(([, fields]) => JSON.parse(fields[1]).data.userId)).toEqual([dave, dave]);
});

function orderData(userId: string) {
  return {
    orderId: uuidv7(),
    userId,
    totalCents: 500,
    items: [{ productId: uuidv7(), quantity: 1, unitPriceCents: 500 }],
  };
}
