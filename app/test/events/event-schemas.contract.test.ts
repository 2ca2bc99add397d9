import { v7 as uuidv7 } from 'uuid';
import { runMigrations } from '../../src/db/migrations';
import { PgDatabase } from '../../src/db/pg-database';
import { seedCatalog } from '../../src/db/seed';
import { DOMAIN_EVENT_TYPES, newDomainEvent } from '../../src/events/domain-event';
import { decodeEventMessage } from '../../src/events/event-consumer';
import { recordDomainEvent } from '../../src/events/event-outbox';
import { EVENT_ROUTES, EVENT_SOURCES } from '../../src/events/event-routes';
import { InvalidDomainEventError, validateDomainEvent } from '../../src/events/event-validation';
import { withProductChanged } from '../../src/events/producers';
import { DOMAIN_EVENT_SCHEMAS } from '../../src/events/schemas';
import { CatalogRepository } from '../../src/repositories/catalog-repository';
import { OrderRepository } from '../../src/repositories/order-repository';
import { UserRepository } from '../../src/repositories/user-repository';
import { createTestDatabase, type TestDatabase } from '../support/postgres';

// Producer/consumer contract tests: every event a producer really writes (the repositories' statements on
// Postgres) passes its type's JSON Schema, and the consumer side refuses what breaks it.
let database: TestDatabase;
let db: PgDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
  db = new PgDatabase({ writer: { connectionString: database.url } });
  await runMigrations(db);
});

afterAll(async () => {
  await db?.close();
  await database?.drop();
});

test('every type has a schema, a source, and every routed type is a known type', () => {
  expect(Object.keys(DOMAIN_EVENT_SCHEMAS).sort()).toEqual([...DOMAIN_EVENT_TYPES].sort());
  expect(Object.keys(EVENT_SOURCES).sort()).toEqual([...DOMAIN_EVENT_TYPES].sort());
  for (const types of Object.values(EVENT_ROUTES))
    for (const type of types) expect(DOMAIN_EVENT_TYPES).toContain(type);
});

test('producers: each type as written by its real producer validates against its schema', async () => {
  const users = new UserRepository();
  const orders = new OrderRepository();
  const catalog = new CatalogRepository();
  const {
    ids: [productId],
  } = await seedCatalog(db.writer, 1);
  const user = await users.create(db.writer, {
    email: `${uuidv7()}@example.test`,
    name: 'Contract',
    passwordHash: 'x',
    role: 'customer',
  });
  const order = await orders.place(db.writer, {
    id: uuidv7(),
    userId: user.id,
    lines: [{ productId, quantity: 2, field: 'body/items/0/productId' }],
  });
  expect(await orders.cancel(db.writer, 'public', user.id, order.id, 3600)).toBe('cancelled');
  await db.transaction(async (tx) =>
    withProductChanged(tx, (await catalog.update(tx, productId, { stock: 7 }))!, 'updated'),
  );
  const { rows } = await db.query<{ type: string; envelope: unknown }>(
    'SELECT type, envelope FROM event_outbox ORDER BY id',
  );
  expect(rows.map((r) => r.type)).toEqual([
    'UserRegistered',
    'OrderPlaced',
    'OrderCancelled',
    'ProductChanged',
  ]);
  for (const row of rows) expect(validateDomainEvent(row.envelope).type).toBe(row.type);
  const [registered, placed, cancelled, changed] = rows.map((r) => r.envelope as { data: unknown });
  expect(registered.data).toEqual({ userId: user.id });
  expect(placed.data).toEqual({
    orderId: order.id,
    userId: user.id,
    totalCents: order.totalCents,
    items: [{ productId, quantity: 2, unitPriceCents: order.items[0].unitPriceCents }],
  });
  expect(cancelled.data).toEqual({ orderId: order.id, userId: user.id, items: [{ productId, quantity: 2 }] });
  expect(changed.data).toMatchObject({ productId, change: 'updated', stock: 7 });
});

test('producers: an app-built event that breaks its schema is refused before it is written', async () => {
  const bad = { ...newDomainEvent('UserRegistered', { userId: 'not-a-uuid' }) };
  await expect(db.transaction((tx) => recordDomainEvent(tx, bad))).rejects.toThrow(
    /UserRegistered \/data\/userId must match format "uuid"/,
  );
  const { rows } = await db.query('SELECT 1 FROM event_outbox WHERE event_id = $1', [bad.id]);
  expect(rows).toHaveLength(0);
});

test('a sign-up taken back (its session could not be stored) takes its unsent UserRegistered with it', async () => {
  const users = new UserRepository();
  const user = await users.create(db.writer, {
    email: `${uuidv7()}@example.test`,
    name: 'Taken back',
    passwordHash: 'x',
    role: 'customer',
  });
  const registered = () =>
    db.query(
      "SELECT 1 FROM event_outbox WHERE type = 'UserRegistered' AND envelope -> 'data' ->> 'userId' = $1",
      [user.id],
    );
  expect((await registered()).rows).toHaveLength(1);
  await users.delete(db.writer, user.id);
  expect((await registered()).rows).toHaveLength(0);
});

describe('consumers: decodeEventMessage refuses what breaks the contract, naming the field', () => {
  const good = newDomainEvent('OrderCancelled', {
    orderId: uuidv7(),
    userId: uuidv7(),
    items: [{ productId: uuidv7(), quantity: 1 }],
  });
  test.each([
    ['not JSON', '{', /not JSON/],
    ['unknown type', JSON.stringify({ ...good, type: 'OrderShipped' }), /\/type must be one of/],
    ['another version', JSON.stringify({ ...good, version: 2 }), /\/version must be equal to constant/],
    [
      'a missing field',
      JSON.stringify({ ...good, data: { ...good.data, items: undefined } }),
      /\/data\/items is required/,
    ],
    ['an extra field', JSON.stringify({ ...good, extra: 1 }), /\/extra is not allowed/],
    [
      'a bad quantity',
      JSON.stringify({ ...good, data: { ...good.data, items: [{ productId: uuidv7(), quantity: 0 }] } }),
      /quantity must be >= 1/,
    ],
    [
      'a bad date',
      JSON.stringify({ ...good, occurredAt: 'yesterday' }),
      /occurredAt must match format "date-time"/,
    ],
  ])('%s', (_case, body, message) => {
    expect(() => decodeEventMessage(body)).toThrow(InvalidDomainEventError);
    expect(() => decodeEventMessage(body)).toThrow(message);
  });

  test('the valid event decodes as it was sent', () => {
    expect(decodeEventMessage(JSON.stringify(good))).toEqual(good);
  });
});
