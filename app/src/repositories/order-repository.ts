import type { SqlExecutor } from '../db/database';

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
  /** Inserts an order and its lines inside the caller's transaction. */
  async insert(tx: SqlExecutor, order: Omit<Order, 'createdAt' | 'status'>): Promise<Order> {
    const { rows } = await tx.query<OrderRow>(
      `INSERT INTO orders (id, user_id, total_cents) VALUES ($1, $2, $3)
       RETURNING id, user_id, status, total_cents, created_at`,
      [order.id, order.userId, order.totalCents],
    );
    await tx.query(
      `INSERT INTO order_items (order_id, line_no, user_id, product_id, name, quantity, unit_price_cents)
       SELECT $1, t.n, $2, t.product_id, t.name, t.quantity, t.price
       FROM unnest($3::uuid[], $4::text[], $5::int[], $6::int[]) WITH ORDINALITY AS t(product_id, name, quantity, price, n)`,
      [
        order.id,
        order.userId,
        order.items.map((line) => line.productId),
        order.items.map((line) => line.name),
        order.items.map((line) => line.quantity),
        order.items.map((line) => line.unitPriceCents),
      ],
    );
    return this.toOrder(rows[0], order.items);
  }

  /** The user's latest orders, newest first. */
  async listForUser(db: SqlExecutor, userId: string, limit = 50): Promise<Order[]> {
    const { rows } = await db.query<OrderRow>(
      `SELECT id, user_id, status, total_cents, created_at FROM orders
       WHERE user_id = $1 ORDER BY id DESC LIMIT $2`,
      [userId, limit],
    );
    return this.withLines(db, userId, rows);
  }

  /** One of the user's orders, or null (also when it belongs to someone else). */
  async getForUser(db: SqlExecutor, userId: string, id: string): Promise<Order | null> {
    const { rows } = await db.query<OrderRow>(
      'SELECT id, user_id, status, total_cents, created_at FROM orders WHERE id = $1 AND user_id = $2',
      [id, userId],
    );
    const [order] = await this.withLines(db, userId, rows);
    return order ?? null;
  }

  private async withLines(db: SqlExecutor, userId: string, orders: OrderRow[]): Promise<Order[]> {
    if (orders.length === 0) return [];
    const { rows } = await db.query<LineRow>(
      `SELECT order_id, product_id, name, quantity, unit_price_cents FROM order_items
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
