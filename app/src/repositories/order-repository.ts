import { randomUUID } from 'node:crypto';
import type { SqlExecutor } from '../db/database';
import { insertEventSql } from '../events/event-outbox';
import { badRequest, conflict } from '../errors';
import { safeSchema } from '../sharding/logical-shard';

/** One line of an order: product name and price are copied from the catalog at order time. */
export interface OrderLine {
  productId: string;
  name: string;
  quantity: number;
  unitPriceCents: number;
}

/** An order as the API shows it. */
export interface Order {
  id: string;
  userId: string;
  status: string;
  totalCents: number;
  createdAt: string;
  items: OrderLine[];
}

interface OrderRow {
  id: string;
  user_id: string;
  status: string;
  total_cents: number | string;
  created_at: Date | string;
}

/** A line as the customer asked for it; `field` names it in error messages (e.g. `body/items/0/productId`). */
export interface RequestedLine {
  productId: string;
  quantity: number;
  field: string;
}

/** One row of the order statement: a requested line, what the catalog had for it, and the order if placed. */
interface PlacedRow {
  line_no: string | number;
  product_id: string;
  quantity: number;
  name: string | null;
  price_cents: number | null;
  stock: number | null;
  order_id: string | null;
  user_id: string | null;
  status: string | null;
  total_cents: number | string | null;
  created_at: Date | string | null;
}

/** OrderPlaced's data, from the `placed` order (as `o`) and its priced lines (CTE `priced`). */
const ORDER_PLACED_DATA = `jsonb_build_object('orderId', o.id, 'userId', o.user_id, 'totalCents', o.total_cents,
  'items', (SELECT jsonb_agg(jsonb_build_object('productId', pr.product_id, 'quantity', pr.quantity,
    'unitPriceCents', pr.price_cents) ORDER BY pr.line_no) FROM priced pr))`;

/**
 * Places an order in one statement, i.e. one round trip and one implicit transaction: lock the products in id
 * order (so concurrent orders cannot deadlock), check every line, and only when all of them can be served take
 * the stock and insert the order and its lines. Every row lock is held for one statement's execution instead
 * of across six round trips (BEGIN, lock, reserve, two inserts, COMMIT). When a line cannot be served nothing is
 * written and the rows say why. The `locked` CTE is MATERIALIZED so the locks are taken before the UPDATE runs,
 * and the UPDATE and inserts are gated on the verdict of all lines. The invalidation event of the order (the
 * transactional outbox) is inserted by the same statement, under the same verdict: no order, no event.
 */
const PLACE_ORDER = `WITH wanted AS (
  SELECT w.product_id, w.quantity, w.line_no
  FROM unnest($3::uuid[], $4::int[]) WITH ORDINALITY AS w(product_id, quantity, line_no)
), locked AS MATERIALIZED (
  SELECT p.id, p.name, p.price_cents, p.stock FROM products p
  WHERE p.id = ANY($3::uuid[]) ORDER BY p.id FOR UPDATE
), priced AS (
  SELECT w.line_no, w.product_id, w.quantity, l.name, l.price_cents, l.stock,
         l.id IS NOT NULL AND l.stock >= w.quantity AS servable
  FROM wanted w LEFT JOIN locked l ON l.id = w.product_id
), verdict AS (
  SELECT coalesce(bool_and(servable), false) AS ok FROM priced
), reserved AS (
  UPDATE products p SET stock = p.stock - pr.quantity, updated_at = now()
  FROM priced pr WHERE p.id = pr.product_id AND (SELECT ok FROM verdict)
), placed AS (
  INSERT INTO orders (id, user_id, total_cents)
  SELECT $1, $2, sum(pr.quantity::bigint * pr.price_cents) FROM priced pr HAVING (SELECT ok FROM verdict)
  RETURNING id, user_id, status, total_cents, created_at
), lines AS (
  INSERT INTO order_items (order_id, line_no, user_id, product_id, name, quantity, unit_price_cents)
  SELECT $1, pr.line_no, $2, pr.product_id, pr.name, pr.quantity, pr.price_cents
  FROM priced pr WHERE (SELECT ok FROM verdict)
), outbox AS (
  INSERT INTO invalidation_outbox (tags)
  SELECT $5::text[] WHERE cardinality($5::text[]) > 0 AND (SELECT ok FROM verdict)
), event AS (
  ${insertEventSql('$6::uuid', 'OrderPlaced', ORDER_PLACED_DATA, 'placed o')}
)
SELECT pr.line_no, pr.product_id, pr.quantity, pr.name, pr.price_cents, pr.stock,
       o.id AS order_id, o.user_id, o.status, o.total_cents, o.created_at
FROM priced pr LEFT JOIN placed o ON true
ORDER BY pr.line_no`;

interface LineRow {
  order_id: string;
  product_id: string;
  name: string;
  quantity: number;
  unit_price_cents: number;
}

/**
 * Orders and their lines (user data: every row carries user_id, every query filters on it, and nothing
 * joins the catalog).
 */
export class OrderRepository {
  /**
   * Places an order: prices the lines from the catalog, takes them out of stock and inserts the order and its
   * lines, all in one statement on `db` (the writer). Lines must name distinct products. A line naming an
   * unknown product is a 400 naming it, a line asking for more than the stock is a 409; then nothing is
   * written. This needs the catalog and the orders in one database (stages 1k and 10k); where orders live on
   * another database than the catalog, the reservation and the inserts become one statement on each.
   * `outboxTags` (the cache tags the order changes) are recorded in the invalidation outbox by the same
   * statement when the order is placed.
   */
  async place(
    db: SqlExecutor,
    order: { id: string; userId: string; lines: readonly RequestedLine[] },
    outboxTags: readonly string[] = [],
  ): Promise<Order> {
    const { rows } = await db.query<PlacedRow>(PLACE_ORDER, [
      order.id,
      order.userId,
      order.lines.map((line) => line.productId),
      order.lines.map((line) => line.quantity),
      [...new Set(outboxTags)],
      randomUUID(),
    ]);
    const placed = rows[0]?.order_id ? rows[0] : undefined;
    if (!placed) {
      for (const [i, line] of order.lines.entries()) {
        const row = rows.find((r) => Number(r.line_no) === i + 1);
        if (!row || row.name === null)
          throw badRequest(`${line.field}: product ${line.productId} does not exist`);
        if (Number(row.stock) < line.quantity) {
          throw conflict(
            `${line.field}: only ${row.stock} of "${row.name}" in stock, ${line.quantity} requested`,
          );
        }
      }
      throw badRequest('body/items: an order needs at least one line');
    }
    const items = rows.map((row) => ({
      productId: row.product_id,
      name: row.name!,
      quantity: Number(row.quantity),
      unitPriceCents: Number(row.price_cents),
    }));
    return this.toOrder(
      {
        id: placed.order_id!,
        user_id: placed.user_id!,
        status: placed.status!,
        total_cents: placed.total_cents!,
        created_at: placed.created_at!,
      },
      items,
    );
  }

  /**
   * Writes an order already priced and reserved elsewhere (the sharded layout: the catalog's stock is on shard 0,
   * the order on the user's shard) in one statement: the order, its lines and its OrderPlaced event (in the
   * shard's `public.event_outbox`), or nothing.
   */
  async insertPriced(
    db: SqlExecutor,
    schema: string,
    order: { id: string; userId: string; lines: readonly OrderLine[] },
  ): Promise<Order> {
    const s = safeSchema(schema);
    const { rows } = await db.query<OrderRow>(
      `WITH placed AS (
         INSERT INTO ${s}.orders (id, user_id, total_cents)
         SELECT $1, $2, sum(q::bigint * p) FROM unnest($4::int[], $6::int[]) AS l(q, p)
         RETURNING id, user_id, status, total_cents, created_at
       ), lines AS (
         INSERT INTO ${s}.order_items (order_id, line_no, user_id, product_id, name, quantity, unit_price_cents)
         SELECT $1, l.n, $2, l.product_id, l.name, l.q, l.p
         FROM unnest($3::uuid[], $4::int[], $5::text[], $6::int[]) WITH ORDINALITY AS l(product_id, q, name, p, n)
       ), priced AS (
         SELECT l.n AS line_no, l.product_id, l.q AS quantity, l.p AS price_cents
         FROM unnest($3::uuid[], $4::int[], $6::int[]) WITH ORDINALITY AS l(product_id, q, p, n)
       ), event AS (
         ${insertEventSql('$7::uuid', 'OrderPlaced', ORDER_PLACED_DATA, 'placed o')}
       )
       SELECT id, user_id, status, total_cents, created_at FROM placed`,
      [
        order.id,
        order.userId,
        order.lines.map((line) => line.productId),
        order.lines.map((line) => line.quantity),
        order.lines.map((line) => line.name),
        order.lines.map((line) => line.unitPriceCents),
        randomUUID(),
      ],
    );
    return this.toOrder(rows[0], [...order.lines]);
  }

  /**
   * Cancels one of the user's orders in one statement on the user's shard: the status change and its
   * OrderCancelled event (with the lines' products and quantities, for the stock release) in `public.event_outbox`
   * of the same database, or neither. Locks the order row, so concurrent cancels write one event.
   * - `not_found`: no such order of this user;
   * - `cancelled`: cancelled now;
   * - `already_cancelled`: it was (nothing written: cancelling is idempotent);
   * - `too_late`: placed more than `windowSeconds` ago (nothing written).
   */
  async cancel(
    db: SqlExecutor,
    schema: string,
    userId: string,
    orderId: string,
    windowSeconds: number,
  ): Promise<'not_found' | 'cancelled' | 'already_cancelled' | 'too_late'> {
    const s = safeSchema(schema);
    const { rows } = await db.query<{ status: string; cancelled: boolean }>(
      `WITH target AS MATERIALIZED (
         SELECT id, user_id, status, created_at FROM ${s}.orders WHERE id = $1 AND user_id = $2 FOR UPDATE
       ), cancelled AS (
         UPDATE ${s}.orders o SET status = 'cancelled' FROM target t
         WHERE o.id = t.id AND t.status = 'placed' AND t.created_at > now() - make_interval(secs => $4)
         RETURNING o.id, o.user_id
       ), event AS (
         ${insertEventSql(
           '$3::uuid',
           'OrderCancelled',
           `jsonb_build_object('orderId', c.id, 'userId', c.user_id,
             'items', (SELECT jsonb_agg(jsonb_build_object('productId', i.product_id, 'quantity', i.quantity)
                        ORDER BY i.line_no) FROM ${s}.order_items i WHERE i.order_id = c.id AND i.user_id = c.user_id))`,
           'cancelled c',
         )}
       )
       SELECT t.status, EXISTS (SELECT 1 FROM cancelled) AS cancelled FROM target t`,
      [orderId, userId, randomUUID(), windowSeconds],
    );
    const row = rows[0];
    if (!row) return 'not_found';
    if (row.cancelled) return 'cancelled';
    return row.status === 'cancelled' ? 'already_cancelled' : 'too_late';
  }

  /** The user's latest orders, newest first. */
  async listForUser(db: SqlExecutor, userId: string, limit = 50, schema = 'public'): Promise<Order[]> {
    const { rows } = await db.query<OrderRow>(
      `SELECT id, user_id, status, total_cents, created_at FROM ${safeSchema(schema)}.orders
       WHERE user_id = $1 ORDER BY id DESC LIMIT $2`,
      [userId, limit],
    );
    return this.withLines(db, userId, rows, schema);
  }

  /** One of the user's orders, or null (also when it belongs to someone else). */
  async getForUser(db: SqlExecutor, userId: string, id: string, schema = 'public'): Promise<Order | null> {
    const { rows } = await db.query<OrderRow>(
      `SELECT id, user_id, status, total_cents, created_at FROM ${safeSchema(schema)}.orders
       WHERE id = $1 AND user_id = $2`,
      [id, userId],
    );
    const [order] = await this.withLines(db, userId, rows, schema);
    return order ?? null;
  }

  private async withLines(
    db: SqlExecutor,
    userId: string,
    orders: OrderRow[],
    schema: string,
  ): Promise<Order[]> {
    if (orders.length === 0) return [];
    const { rows } = await db.query<LineRow>(
      `SELECT order_id, product_id, name, quantity, unit_price_cents FROM ${safeSchema(schema)}.order_items
       WHERE order_id = ANY($1::uuid[]) AND user_id = $2 ORDER BY order_id, line_no`,
      [orders.map((order) => order.id), userId],
    );
    const lines = new Map<string, OrderLine[]>();
    for (const row of rows) {
      const list = lines.get(row.order_id) ?? [];
      list.push({
        productId: row.product_id,
        name: row.name,
        quantity: Number(row.quantity),
        unitPriceCents: Number(row.unit_price_cents),
      });
      lines.set(row.order_id, list);
    }
    return orders.map((order) => this.toOrder(order, lines.get(order.id) ?? []));
  }

  private toOrder(row: OrderRow, items: OrderLine[]): Order {
    return {
      id: row.id,
      userId: row.user_id,
      status: row.status,
      totalCents: Number(row.total_cents),
      createdAt: new Date(row.created_at).toISOString(),
      items,
    };
  }
}
