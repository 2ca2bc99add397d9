import { v7 as uuidv7 } from 'uuid';
import { hashPassword } from '../passwords';
import type { SqlExecutor } from './database';

export { hashPassword };

const ADJECTIVES = [
  'Red',
  'Blue',
  'Green',
  'Steel',
  'Wooden',
  'Ceramic',
  'Linen',
  'Copper',
  'Glass',
  'Bamboo',
  'Wool',
  'Oak',
];
const NOUNS = [
  'Mug',
  'Chair',
  'Lamp',
  'Kettle',
  'Notebook',
  'Backpack',
  'Teapot',
  'Blanket',
  'Vase',
  'Bowl',
  'Stool',
  'Clock',
  'Shelf',
];

function sqlArray(words: string[]): string {
  return `ARRAY[${words.map((w) => `'${w}'`).join(',')}]`;
}

/** Summary of a seeding call: the ids it inserted, in insertion order. */
export interface SeededProducts {
  ids: string[];
}

/**
 * Inserts `count` products in one set-based statement (10,000 rows in well under a second on Postgres).
 *
 * Names combine an adjective and a noun ("Copper Kettle 42"), so search has something to find; SKUs carry a
 * random batch tag so the function can be called more than once on one database. Stock is 10,000 each.
 */
export async function seedCatalog(db: SqlExecutor, count: number): Promise<SeededProducts> {
  const ids = Array.from({ length: count }, () => uuidv7());
  const batch = uuidv7().slice(-8);
  await db.query(
    `INSERT INTO products (id, sku, name, description, price_cents, stock)
     SELECT t.id,
            'SKU-' || $2 || '-' || t.n,
            (${sqlArray(ADJECTIVES)})[1 + t.n % ${ADJECTIVES.length}] || ' ' ||
              (${sqlArray(NOUNS)})[1 + (t.n / ${ADJECTIVES.length}) % ${NOUNS.length}] || ' ' || t.n,
            'A sturdy, well-made item from the seed catalog, number ' || t.n || '.',
            199 + (t.n * 7919) % 19800,
            10000
     FROM unnest($1::uuid[]) WITH ORDINALITY AS t(id, n)`,
    [ids, batch],
  );
  return { ids };
}

/** Options of {@link seedUsers}. */
export interface SeedUsersOptions {
  /** Orders to create for each user (1 to 3 lines each, from existing products). @default 0 */
  ordersPerUser?: number;
  /** Password hash every seeded user gets (from {@link hashPassword}); hashing 10,000 times would take minutes. */
  passwordHash: string;
  /** Emails are `<emailPrefix><n>@example.test`, n from 1. @default 'user' */
  emailPrefix?: string;
}

/** Summary of {@link seedUsers}: ids and emails in the same order. */
export interface SeededUsers {
  ids: string[];
  emails: string[];
  orderCount: number;
}

/**
 * Inserts `count` customers (and optionally orders for each, priced from the current catalog) with a few
 * set-based statements. All users share one precomputed password hash.
 */
export async function seedUsers(
  db: SqlExecutor,
  count: number,
  options: SeedUsersOptions,
): Promise<SeededUsers> {
  const prefix = options.emailPrefix ?? 'user';
  const ids = Array.from({ length: count }, () => uuidv7());
  const emails = ids.map((_, i) => `${prefix}${i + 1}@example.test`.toLowerCase());
  await db.query(
    `INSERT INTO users (id, email, name, password_hash, role)
     SELECT t.id, t.email, 'Seed user ' || t.n, $3, 'customer'
     FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS t(id, email, n)`,
    [ids, emails, options.passwordHash],
  );

  const ordersPerUser = options.ordersPerUser ?? 0;
  let orderCount = 0;
  if (ordersPerUser > 0) {
    // Orders copy name and price from the catalog, as a real order does; no join between the two.
    const { rows: products } = await db.query<{ id: string; name: string; price_cents: number }>(
      'SELECT id, name, price_cents FROM products ORDER BY id LIMIT 1000',
    );
    if (products.length === 0) throw new Error('seedUsers: seed the catalog first, orders need products');
    const order = { id: [] as string[], userId: [] as string[], total: [] as number[] };
    const item = {
      orderId: [] as string[],
      lineNo: [] as number[],
      userId: [] as string[],
      productId: [] as string[],
      name: [] as string[],
      quantity: [] as number[],
      price: [] as number[],
    };
    let k = 0;
    for (const userId of ids) {
      for (let o = 0; o < ordersPerUser; o++) {
        const orderId = uuidv7();
        const lines = 1 + (k % 3);
        let total = 0;
        for (let line = 1; line <= lines; line++) {
          const product = products[(k * 31 + line * 17) % products.length];
          const quantity = 1 + ((k + line) % 4);
          total += quantity * Number(product.price_cents);
          item.orderId.push(orderId);
          item.lineNo.push(line);
          item.userId.push(userId);
          item.productId.push(product.id);
          item.name.push(product.name);
          item.quantity.push(quantity);
          item.price.push(Number(product.price_cents));
        }
        order.id.push(orderId);
        order.userId.push(userId);
        order.total.push(total);
        k++;
      }
    }
    await db.query(
      `INSERT INTO orders (id, user_id, total_cents)
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bigint[])`,
      [order.id, order.userId, order.total],
    );
    await db.query(
      `INSERT INTO order_items (order_id, line_no, user_id, product_id, name, quantity, unit_price_cents)
       SELECT * FROM unnest($1::uuid[], $2::int[], $3::uuid[], $4::uuid[], $5::text[], $6::int[], $7::int[])`,
      [item.orderId, item.lineNo, item.userId, item.productId, item.name, item.quantity, item.price],
    );
    orderCount = order.id.length;
  }
  return { ids, emails, orderCount };
}

/** The small demo catalog `npm start` shows on the embedded defaults (inserted only into an empty catalog). */
export async function seedDemoCatalog(db: SqlExecutor): Promise<number> {
  const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM products');
  if (Number(rows[0].n) > 0) return 0;
  const { ids } = await seedCatalog(db, 48);
  return ids.length;
}
