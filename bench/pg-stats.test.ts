import { classifyStatement, statementRoute, summariseStatements, type StatementStat } from './pg-stats';

// Statement texts as pg_stat_statements shows the app's SQL (constants replaced by $n).
const PRODUCT =
  'SELECT id, sku, name, description, price_cents, stock, updated_at FROM products WHERE id = $1';
const PAGE_1 =
  'SELECT id, sku, name, description, price_cents, stock, updated_at FROM products  ORDER BY id LIMIT $1';
const PAGE_N =
  'SELECT id, sku, name, description, price_cents, stock, updated_at FROM products WHERE id > $2 ORDER BY id LIMIT $1';
const MY_ORDERS = `SELECT id, user_id, status, total_cents, created_at FROM orders
       WHERE user_id = $1 ORDER BY id DESC LIMIT $2`;
const MY_LINES = `SELECT order_id, product_id, name, quantity, unit_price_cents FROM order_items
       WHERE order_id = ANY($1::uuid[]) AND user_id = $2 ORDER BY order_id, line_no`;
const LOCK =
  'SELECT id, name, price_cents, stock FROM products WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE';
const RESERVE = `UPDATE products SET stock = products.stock - q.quantity, updated_at = now()
       FROM unnest($1::uuid[], $2::int[]) AS q(id, quantity) WHERE products.id = q.id`;
const ONE_STATEMENT_ORDER = `WITH wanted AS (SELECT * FROM unnest($3::uuid[], $4::int[]) WITH ORDINALITY AS t(product_id, quantity, n)),
  locked AS (SELECT p.id FROM products p WHERE p.id = ANY($3::uuid[]) ORDER BY p.id FOR UPDATE),
  new_order AS (INSERT INTO orders (id, user_id, total_cents) SELECT $1, $2, $5 RETURNING id)
  SELECT * FROM new_order`;
const PRICE =
  'UPDATE products SET price_cents = $2, updated_at = now() WHERE id = $1 RETURNING id, sku, name, description, price_cents, stock, updated_at';

describe('classifyStatement', () => {
  it.each([
    [PRODUCT, 'read'],
    [PAGE_1, 'read'],
    [MY_LINES, 'read'],
    [LOCK, 'write'],
    [RESERVE, 'write'],
    [ONE_STATEMENT_ORDER, 'write'],
    [PRICE, 'write'],
    ['INSERT INTO orders (id, user_id, total_cents) VALUES ($1, $2, $3)', 'write'],
    ['BEGIN', 'transaction'],
    ['BEGIN READ ONLY', 'transaction'],
    ['COMMIT', 'transaction'],
    ['ROLLBACK', 'transaction'],
    ['SELECT pg_current_wal_lsn()::text AS lsn', 'replication-position'],
    [
      'SELECT pg_is_in_recovery() AS in_recovery, pg_last_wal_replay_lsn()::text AS lsn',
      'replication-position',
    ],
    ['WITH x AS (SELECT 1) SELECT * FROM x', 'read'],
    ['SET statement_timeout = 0', 'other'],
  ])('%s -> %s', (query, kind) => {
    expect(classifyStatement(query)).toBe(kind);
  });
});

describe('statementRoute', () => {
  it.each([
    [PRODUCT, 'productPage'],
    [PAGE_1, 'catalogPage'],
    [PAGE_N, 'catalogPage'],
    [MY_ORDERS, 'myOrders'],
    [MY_LINES, 'myOrders'],
    [LOCK, 'placeOrder'],
    [RESERVE, 'placeOrder'],
    [ONE_STATEMENT_ORDER, 'placeOrder'],
    [PRICE, 'updateProduct'],
    ['BEGIN', 'other'],
    ["SELECT id FROM products WHERE search @@ to_tsquery('simple', $2) ORDER BY id LIMIT $1", 'other'],
  ])('%s -> %s', (query, route) => {
    expect(statementRoute(query)).toBe(route);
  });
});

describe('summariseStatements', () => {
  it('sums calls and execution time by kind, by route and reads by route', () => {
    const stats: StatementStat[] = [
      { query: PRODUCT, calls: 100, totalExecMs: 5, rows: 100, blocks: 300 },
      { query: 'BEGIN', calls: 10, totalExecMs: 0.1, rows: 0 },
      { query: LOCK, calls: 10, totalExecMs: 2, rows: 20, blocks: 40 },
      { query: RESERVE, calls: 10, totalExecMs: 3, rows: 20 },
      { query: 'COMMIT', calls: 10, totalExecMs: 0.4, rows: 0 },
    ];
    const s = summariseStatements(stats);
    expect(s.total.calls).toBe(140);
    expect(s.total.execMs).toBeCloseTo(10.5, 9);
    expect(s.byKind.read).toEqual({ calls: 100, execMs: 5, blocks: 300 });
    expect(s.total.blocks).toBe(340);
    expect(s.byKind.write).toEqual({ calls: 20, execMs: 5, blocks: 40 });
    expect(s.byKind.transaction.calls).toBe(20);
    expect(s.readsByRoute.productPage).toEqual({ calls: 100, execMs: 5, blocks: 300 });
    expect(s.readsByRoute.placeOrder.calls).toBe(0);
    expect(s.byRoute.placeOrder).toEqual({ calls: 20, execMs: 5, blocks: 40 });
    expect(s.top[0]).toMatchObject({ calls: 100, kind: 'read' });
  });
});
