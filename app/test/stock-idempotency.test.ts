import Fastify from 'fastify';
import { v7 as uuidv7 } from 'uuid';
import { runMigrations } from '../src/db/migrations';
import { PgDatabase } from '../src/db/pg-database';
import { seedCatalog } from '../src/db/seed';
import { newDomainEvent } from '../src/events/domain-event';
import { stockReleaseEffect } from '../src/events/consumers/stock-release';
import { InvalidationOutbox } from '../src/invalidation/outbox';
import { internalStockRoutes } from '../src/routes/internal';
import { errorSchema } from '../src/schemas/common';
import { addShopKeywords } from '../src/schemas/keywords';
import { releaseReservation, SqlCatalogStock, type OrderRequest } from '../src/orders/order-placement';
import type { OrderLine } from '../src/repositories/order-repository';
import { createTestDatabase, type TestDatabase } from './support/postgres';
import { until } from './support/wait';

// Giving out and taking back stock is idempotent by the order id even when the attempts overlap, on a real
// Postgres shared by the file: a reserve retried while the first attempt is still running, and a release by the
// placement or the reconciler racing the OrderCancelled consumer.
let database: TestDatabase;
let db: PgDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
  db = new PgDatabase({ writer: { connectionString: database.url }, poolMax: 8 });
  await runMigrations(db);
});
afterAll(async () => {
  await db.close();
  await database.drop();
});

const stockOf = async (id: string) =>
  Number((await db.query<{ stock: number }>('SELECT stock FROM products WHERE id = $1', [id])).rows[0].stock);
const setStock = (id: string, stock: number) =>
  db.query('UPDATE products SET stock = $2 WHERE id = $1', [id, stock]);

/** Sessions of this database waiting on a lock (row locks of products, here). */
const lockWaiters = async () =>
  (
    await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock'`,
    )
  ).rows[0].n;

function orderOf(lines: [string, number][]): OrderRequest {
  return {
    id: uuidv7(),
    userId: uuidv7(),
    lines: lines.map(([productId, quantity], i) => ({
      productId,
      quantity,
      field: `body/items/${i}/productId`,
    })),
  };
}

/**
 * Reserves `order` in a transaction held open until a second reserve of the same order (outside it) waits on
 * its row locks, then commits; returns both answers.
 */
async function overlappingReserves(order: OrderRequest): Promise<[OrderLine[], OrderLine[]]> {
  let second: Promise<OrderLine[]> | undefined;
  const first = await db.transaction(async (tx) => {
    const lines = await new SqlCatalogStock(tx).reserve(order, []);
    second = new SqlCatalogStock(db.writer).reserve(order, []);
    // Keep a rejection from being unhandled while it waits.
    second.catch(() => {});
    await until(async () => (await lockWaiters()) === 1, 'the retry to wait on the first attempt');
    return lines;
  });
  return [first, await second!];
}

describe('reserve: a retry overlapping the first attempt', () => {
  test('both get the same reserved lines and the stock is taken once', async () => {
    const [a, b] = (await seedCatalog(db.writer, 2)).ids;
    await setStock(a, 10);
    await setStock(b, 10);
    const order = orderOf([
      [a, 2],
      [b, 3],
    ]);
    const [first, retry] = await overlappingReserves(order);
    expect(first.map((l) => [l.productId, l.quantity])).toEqual([
      [a, 2],
      [b, 3],
    ]);
    expect(retry).toEqual(first);
    expect([await stockOf(a), await stockOf(b)]).toEqual([8, 7]);
  });

  test('when the first attempt took the last units, the retry gets its reservation, not a 409', async () => {
    const [a] = (await seedCatalog(db.writer, 1)).ids;
    await setStock(a, 2);
    const order = orderOf([[a, 2]]);
    const [first, retry] = await overlappingReserves(order);
    expect(first.map((l) => l.quantity)).toEqual([2]);
    expect(retry).toEqual(first);
    expect(await stockOf(a)).toBe(0);
  });
});

describe('giving stock back: one restock per order, whoever gives it', () => {
  const cancel = stockReleaseEffect({
    catalog: {
      transaction: (fn) => db.transaction(fn),
    } as PgDatabase,
    invalidation: new InvalidationOutbox('main'),
    tagsOf: (ids) => ids.map((id) => `product:${id}`),
  });
  const cancelled = (order: OrderRequest) =>
    newDomainEvent('OrderCancelled', {
      orderId: order.id,
      userId: order.userId,
      items: order.lines.map((l) => ({ productId: l.productId, quantity: l.quantity })),
    });

  test('the reconciler releases, then the OrderCancelled of the same order arrives: restocked once', async () => {
    const [a] = (await seedCatalog(db.writer, 1)).ids;
    await setStock(a, 10);
    const order = orderOf([[a, 3]]);
    await new SqlCatalogStock(db.writer).reserve(order, []);
    expect(await stockOf(a)).toBe(7);
    // The reconciler's release (the same statement as a failed placement's).
    expect(await db.transaction((tx) => releaseReservation(tx, order.id, []))).toBe(1);
    expect(await stockOf(a)).toBe(10);
    await cancel(cancelled(order));
    expect(await stockOf(a)).toBe(10);
  });

  test('the OrderCancelled first, then a release of the same order: restocked once', async () => {
    const [a] = (await seedCatalog(db.writer, 1)).ids;
    await setStock(a, 10);
    const order = orderOf([[a, 4]]);
    await new SqlCatalogStock(db.writer).reserve(order, []);
    expect(await cancel(cancelled(order))).toBe(true);
    expect(await stockOf(a)).toBe(10);
    expect(await releaseReservation(db.writer, order.id, [])).toBe(0);
    expect(await stockOf(a)).toBe(10);
  });

  test('a late reserve of an order whose stock was given back is a 409 and takes nothing', async () => {
    const [a] = (await seedCatalog(db.writer, 1)).ids;
    await setStock(a, 10);
    const order = orderOf([[a, 2]]);
    await new SqlCatalogStock(db.writer).reserve(order, []);
    expect(await releaseReservation(db.writer, order.id, [])).toBe(1);
    // (a retry the products service had queued while the caller gave up, processed after the reconciler)
    await expect(new SqlCatalogStock(db.writer).reserve(order, [])).rejects.toMatchObject({
      statusCode: 409,
      message: expect.stringMatching(/already given back/),
    });
    expect(await stockOf(a)).toBe(10);
  });

  test('a release and the OrderCancelled at the same time: restocked once', async () => {
    const [a] = (await seedCatalog(db.writer, 1)).ids;
    await setStock(a, 10);
    const order = orderOf([[a, 5]]);
    await new SqlCatalogStock(db.writer).reserve(order, []);
    await Promise.all([releaseReservation(db.writer, order.id, []), cancel(cancelled(order))]);
    expect(await stockOf(a)).toBe(10);
  });
});

describe('POST /internal/reservations/:orderId', () => {
  test('the same product twice is a 400 naming the line, and takes no stock', async () => {
    const [a] = (await seedCatalog(db.writer, 1)).ids;
    await setStock(a, 10);
    const app = Fastify({ logger: false, ajv: { plugins: [addShopKeywords as never] } });
    app.addSchema(errorSchema);
    app.decorate('shop', { db } as never);
    await app.register(internalStockRoutes);
    try {
      const response = await app.inject({
        method: 'POST',
        url: `/internal/reservations/${uuidv7()}`,
        payload: {
          userId: uuidv7(),
          lines: [
            { productId: a, quantity: 1, field: 'body/items/0/productId' },
            { productId: a.toUpperCase(), quantity: 2, field: 'body/items/1/productId' },
          ],
        },
      });
      expect(response.statusCode).toBe(400);
      expect(response.json().message).toMatch(
        /^body\/lines\/1\/productId: .* also in body\/lines\/0; send each product once/,
      );
      expect(await stockOf(a)).toBe(10);
    } finally {
      await app.close();
    }
  });
});
