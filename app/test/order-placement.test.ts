import { v7 as uuidv7 } from 'uuid';
import { runMigrations } from '../src/db/migrations';
import { PgDatabase } from '../src/db/pg-database';
import { seedCatalog, seedUsers } from '../src/db/seed';
import { OrderRepository } from '../src/repositories/order-repository';
import { createTestDatabase, type TestDatabase } from './support/postgres';

// The one-statement order (OrderRepository.place) against a real Postgres: one round trip, no oversell and no
// deadlock under concurrency, nothing written when a line cannot be served.
describe('OrderRepository.place (one statement)', () => {
  let database: TestDatabase;
  let db: PgDatabase;
  let queries = 0;
  let userIds: string[];
  const orders = new OrderRepository();

  beforeAll(async () => {
    database = await createTestDatabase();
    db = new PgDatabase({
      writer: { connectionString: database.url },
      poolMax: 16,
      observe: () => queries++,
    });
    await runMigrations(db);
    userIds = (await seedUsers(db, 4, { passwordHash: 'x' })).ids;
  });
  afterAll(async () => {
    await db.close();
    await database.drop();
  });

  const stockOf = async (id: string) =>
    Number(
      (await db.query<{ stock: number }>('SELECT stock FROM products WHERE id = $1', [id])).rows[0].stock,
    );
  const setStock = (id: string, stock: number) =>
    db.query('UPDATE products SET stock = $2 WHERE id = $1', [id, stock]);
  const line = (productId: string, quantity: number, i = 0) => ({
    productId,
    quantity,
    field: `body/items/${i}/productId`,
  });

  test('prices, reserves and inserts in one round trip', async () => {
    const [a, b] = (await seedCatalog(db, 2)).ids;
    const before = queries;
    const order = await orders.place(db.writer, {
      id: uuidv7(),
      userId: userIds[0],
      lines: [line(a, 2), line(b, 1, 1)],
    });
    expect(queries - before).toBe(1);
    const { rows } = await db.query<{ price_cents: number; name: string }>(
      'SELECT price_cents, name FROM products WHERE id = ANY($1::uuid[]) ORDER BY array_position($1::uuid[], id)',
      [[a, b]],
    );
    expect(order).toMatchObject({
      userId: userIds[0],
      status: 'placed',
      totalCents: 2 * rows[0].price_cents + rows[1].price_cents,
      items: [
        { productId: a, quantity: 2, unitPriceCents: rows[0].price_cents, name: rows[0].name },
        { productId: b, quantity: 1, unitPriceCents: rows[1].price_cents, name: rows[1].name },
      ],
    });
    expect(await stockOf(a)).toBe(9_998);
    expect(await orders.getForUser(db, userIds[0], order.id)).toEqual(order);
  });

  test('an unknown product (400) or too little stock (409) names the first bad line and writes nothing', async () => {
    const [a, b] = (await seedCatalog(db, 2)).ids;
    await setStock(b, 3);
    const count = async () =>
      Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM orders')).rows[0].n);
    const ordersBefore = await count();
    await expect(
      orders.place(db.writer, { id: uuidv7(), userId: userIds[0], lines: [line(a, 1), line(b, 4, 1)] }),
    ).rejects.toMatchObject({
      statusCode: 409,
      message: expect.stringMatching(/^body\/items\/1\/productId: only 3 of ".*" in stock, 4 requested$/),
    });
    const missing = '01900000-0000-7000-8000-000000000000';
    await expect(
      orders.place(db.writer, { id: uuidv7(), userId: userIds[0], lines: [line(missing, 1), line(b, 4, 1)] }),
    ).rejects.toMatchObject({
      statusCode: 400,
      message: `body/items/0/productId: product ${missing} does not exist`,
    });
    expect(await stockOf(a)).toBe(10_000);
    expect(await stockOf(b)).toBe(3);
    expect(await count()).toBe(ordersBefore);
  });

  test('concurrent orders never oversell: with 5 in stock exactly 5 of 12 succeed', async () => {
    const [hot] = (await seedCatalog(db, 1)).ids;
    await setStock(hot, 5);
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) =>
        orders.place(db.writer, { id: uuidv7(), userId: userIds[i % 4], lines: [line(hot, 1)] }),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(rejected).toHaveLength(7);
    for (const r of rejected) expect(r.reason).toMatchObject({ statusCode: 409 });
    expect(await stockOf(hot)).toBe(0);
    const { rows } = await db.query<{ n: string }>(
      'SELECT count(*) AS n FROM order_items WHERE product_id = $1',
      [hot],
    );
    expect(Number(rows[0].n)).toBe(5);
  });

  test('orders naming the same products in opposite order do not deadlock', async () => {
    const [a, b] = (await seedCatalog(db, 2)).ids;
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        orders.place(db.writer, {
          id: uuidv7(),
          userId: userIds[i % 4],
          lines: i % 2 ? [line(a, 1), line(b, 1, 1)] : [line(b, 1), line(a, 1, 1)],
        }),
      ),
    );
    expect(
      results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason),
    ).toEqual([]);
    expect(await stockOf(a)).toBe(9_980);
    expect(await stockOf(b)).toBe(9_980);
  });
});
