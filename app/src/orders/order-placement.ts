import type { SqlExecutor } from '../db/database';
import { badRequest, conflict, HttpError } from '../errors';
import type { Order, OrderLine, OrderRepository, RequestedLine } from '../repositories/order-repository';
import { ShardUnavailableError } from '../sharding/shard-map';

/** An order to place: a fresh id (UUIDv7), its user, and distinct products. */
export interface OrderRequest {
  readonly id: string;
  readonly userId: string;
  readonly lines: readonly RequestedLine[];
  /** The public request's id (X-Request-Id), passed on to the products service so both logs line up. */
  readonly requestId?: string;
}

/** Where an order's rows go: the user's shard, as the router found it for writing. */
export interface OrderTarget {
  /** The writer of the physical shard that holds the user's logical shard. */
  readonly writer: SqlExecutor;
  /** The user's schema there (`public` unsharded, `ls_NNN` sharded). */
  readonly schema: string;
}

/**
 * The seam where an order is placed. Stages 1k and 10k place it in one statement (catalog and orders in one
 * database); the sharded layout reserves stock in the catalog and writes the order on the user's shard. The
 * reconciler, and the proofs under kill -9, belong to {@link CrossDatabaseOrderPlacement}.
 */
export interface OrderPlacement {
  /**
   * Places the order or throws a 400 (unknown product) / 409 (not enough stock) with nothing written; `tags`
   * are the cache tags it changes, recorded in the catalog's outbox with the stock change.
   */
  place(order: OrderRequest, target: OrderTarget, tags: readonly string[]): Promise<Order>;
}

/** One database: the repository's single statement (lock, check, take stock, insert, outbox). */
export class SingleStatementOrderPlacement implements OrderPlacement {
  constructor(
    private readonly catalog: SqlExecutor,
    private readonly orders: OrderRepository,
  ) {}

  place(order: OrderRequest, target: OrderTarget, tags: readonly string[]): Promise<Order> {
    if (target.schema !== 'public')
      throw new Error('the single-statement placement needs the unsharded layout (orders in public)');
    return this.orders.place(this.catalog, order, tags);
  }
}

interface ReservedRow {
  line_no: string | number;
  product_id: string;
  quantity: number;
  name: string | null;
  price_cents: number | null;
  stock: number | null;
  reserved: boolean;
  given_back: boolean;
}

/**
 * Reserves stock for an order in one statement on the catalog: lock the products in id order, check every
 * line, and only when all can be served take the stock, record one reservation row per line keyed by the order
 * id, and the invalidation in the outbox. A second call with the same order id reserves nothing again (`already`).
 */
const RESERVE = `WITH wanted AS (
  SELECT w.product_id, w.quantity, w.line_no
  FROM unnest($3::uuid[], $4::int[]) WITH ORDINALITY AS w(product_id, quantity, line_no)
), already AS (
  SELECT EXISTS (SELECT 1 FROM stock_reservations WHERE order_id = $1) AS held,
         EXISTS (SELECT 1 FROM stock_releases WHERE order_id = $1) AS given_back
), locked AS MATERIALIZED (
  SELECT p.id, p.name, p.price_cents, p.stock FROM products p
  WHERE p.id = ANY($3::uuid[]) ORDER BY p.id FOR UPDATE
), priced AS (
  SELECT w.line_no, w.product_id, w.quantity, l.name, l.price_cents, l.stock,
         l.id IS NOT NULL AND l.stock >= w.quantity AS servable
  FROM wanted w LEFT JOIN locked l ON l.id = w.product_id
), verdict AS (
  SELECT coalesce(bool_and(servable), false) AND NOT (SELECT held OR given_back FROM already) AS ok FROM priced
), taken AS (
  UPDATE products p SET stock = p.stock - pr.quantity, updated_at = now()
  FROM priced pr WHERE p.id = pr.product_id AND (SELECT ok FROM verdict)
), held AS (
  INSERT INTO stock_reservations (order_id, product_id, user_id, quantity)
  SELECT $1, pr.product_id, $2, pr.quantity FROM priced pr WHERE (SELECT ok FROM verdict)
), outbox AS (
  INSERT INTO invalidation_outbox (tags)
  SELECT $5::text[] WHERE cardinality($5::text[]) > 0 AND (SELECT ok FROM verdict)
)
SELECT pr.line_no, pr.product_id, pr.quantity, pr.name, pr.price_cents, pr.stock,
       (SELECT ok FROM verdict) OR (SELECT held FROM already) AS reserved,
       (SELECT given_back FROM already) AS given_back
FROM priced pr ORDER BY pr.line_no`;

/**
 * Gives an order's reserved stock back and forgets the reservation; idempotent (a second call finds none). The
 * stock of the reservation rows it deletes goes back (those rows are what was taken), and the order is recorded
 * in `stock_releases`, the key the OrderCancelled consumer gives stock back by: a cancellation after this release
 * restocks nothing again (the consumer, going first, deletes the reservations itself: this then finds none). Both
 * lock the reservations before `stock_releases`, so they never deadlock. A reserve for an order in
 * `stock_releases` is refused, so a late retry cannot take stock again for an order already given back.
 */
const RELEASE = `WITH released AS (
  DELETE FROM stock_reservations WHERE order_id = $1 AND confirmed_at IS NULL
  RETURNING product_id, quantity
), mark AS (
  INSERT INTO stock_releases (order_id) SELECT $1 WHERE EXISTS (SELECT 1 FROM released)
  ON CONFLICT DO NOTHING
), restocked AS (
  UPDATE products p SET stock = p.stock + r.quantity, updated_at = now()
  FROM released r WHERE p.id = r.product_id
), outbox AS (
  INSERT INTO invalidation_outbox (tags)
  SELECT $2::text[] WHERE cardinality($2::text[]) > 0 AND EXISTS (SELECT 1 FROM released)
)
SELECT count(*)::int AS released FROM released`;

/**
 * The catalog side of an order placed across databases: stock reserved for an order id, then confirmed once the
 * order exists, or released. Every call is idempotent by the order id. Adapters: {@link SqlCatalogStock} (the
 * catalog database in this process: the monolith of stage 100k, and the products service) and
 * HttpCatalogStock (the orders service of stage 1m, over the products service's internal API).
 */
export interface CatalogStock {
  /**
   * Reserves the stock of every line for `order.id` (all or nothing) and returns the priced lines; a 400 or 409
   * (HttpError, message naming the line's field) when a line cannot be served. A reservation that exists for the
   * id is returned as it is. `tags` are recorded in the catalog's outbox with the stock change.
   */
  reserve(order: OrderRequest, tags: readonly string[]): Promise<OrderLine[]>;
  /** Marks the order's reservation confirmed (its order exists). `requestId`: as {@link OrderRequest.requestId}. */
  confirm(orderId: string, requestId?: string): Promise<void>;
  /** Releases the order's unconfirmed reservation; returns the number of lines given back. */
  release(orderId: string, tags?: readonly string[], requestId?: string): Promise<number>;
}

/** {@link CatalogStock} on the catalog database itself (one statement per step). */
export class SqlCatalogStock implements CatalogStock {
  constructor(private readonly catalog: SqlExecutor) {}

  async reserve(order: OrderRequest, tags: readonly string[]): Promise<OrderLine[]> {
    let rows: ReservedRow[];
    try {
      ({ rows } = await this.catalog.query<ReservedRow>(RESERVE, [
        order.id,
        order.userId,
        order.lines.map((line) => line.productId),
        order.lines.map((line) => line.quantity),
        [...tags],
      ]));
    } catch (err) {
      // A concurrent attempt of the same order (a retry overlapping a first attempt still running) committed its
      // reservation after this statement's snapshot: its rows collide (23505) and this statement took nothing.
      if ((err as { code?: unknown }).code !== '23505') throw err;
      const held = await this.reservationOf(order);
      if (held) return held;
      throw err;
    }
    if (!rows[0]?.reserved) {
      // The same overlap when the first attempt took the last units: this one saw too little stock. The order's
      // reservation is the answer, not a 409.
      const held = await this.reservationOf(order);
      if (held) return held;
      if (rows[0]?.given_back)
        throw conflict(
          `order ${order.id}: its stock was already given back (released or cancelled); place the order again`,
        );
      for (const [i, line] of order.lines.entries()) {
        const row = rows.find((r) => Number(r.line_no) === i + 1);
        if (!row || row.name === null)
          throw badRequest(`${line.field}: product ${line.productId} does not exist`);
        if (Number(row.stock) < line.quantity)
          throw conflict(
            `${line.field}: only ${row.stock} of "${row.name}" in stock, ${line.quantity} requested`,
          );
      }
      throw badRequest('body/items: an order needs at least one line');
    }
    return rows.map((row) => ({
      productId: row.product_id,
      name: row.name!,
      quantity: Number(row.quantity),
      unitPriceCents: Number(row.price_cents),
    }));
  }

  /** The order's reservation as priced lines, in the request's order; undefined when it has none. */
  private async reservationOf(order: OrderRequest): Promise<OrderLine[] | undefined> {
    const { rows } = await this.catalog.query<{
      product_id: string;
      name: string;
      quantity: number;
      price_cents: number;
    }>(
      `SELECT r.product_id::text, p.name, r.quantity, p.price_cents
         FROM stock_reservations r JOIN products p ON p.id = r.product_id
        WHERE r.order_id = $1
        ORDER BY array_position($2::uuid[], r.product_id), r.product_id`,
      [order.id, order.lines.map((line) => line.productId)],
    );
    if (rows.length === 0) return undefined;
    return rows.map((row) => ({
      productId: row.product_id,
      name: row.name,
      quantity: Number(row.quantity),
      unitPriceCents: Number(row.price_cents),
    }));
  }

  async confirm(orderId: string): Promise<void> {
    await this.catalog.query(
      'UPDATE stock_reservations SET confirmed_at = now() WHERE order_id = $1 AND confirmed_at IS NULL',
      [orderId],
    );
  }

  release(orderId: string, tags: readonly string[] = []): Promise<number> {
    return releaseReservation(this.catalog, orderId, tags);
  }
}

function isCatalogStock(value: SqlExecutor | CatalogStock): value is CatalogStock {
  return typeof (value as Partial<CatalogStock>).reserve === 'function';
}

/**
 * Catalog and orders in different databases (the sharded layout), without a distributed transaction:
 *
 * 1. reserve: the catalog takes the stock and records reservations keyed by the order id;
 * 2. write: one statement on the user's shard inserts the order and its lines;
 * 3. confirm: the reservations are marked confirmed (the order exists);
 * on a failed write, release: the same key gives the stock back.
 *
 * Stock is never oversold (step 1 is atomic under row locks), and an order never exists without its
 * reservation (step 2 follows step 1). A process killed between steps leaves an unconfirmed reservation; the
 * reconciler confirms it when the order exists on its shard and releases it otherwise, after a timeout longer
 * than any placement. The catalog side is a {@link CatalogStock}: SQL in this process (given a SqlExecutor), or
 * the products service over HTTP (stage 1m).
 */
export class CrossDatabaseOrderPlacement implements OrderPlacement {
  private readonly stock: CatalogStock;

  constructor(
    /** The catalog's writer (SQL in this process), or the catalog side as a port. */
    readonly catalog: SqlExecutor | CatalogStock,
    private readonly orders: OrderRepository,
  ) {
    this.stock = isCatalogStock(catalog) ? catalog : new SqlCatalogStock(catalog);
  }

  async place(order: OrderRequest, target: OrderTarget, tags: readonly string[]): Promise<Order> {
    const unique = [...new Set(tags)];
    const lines = await this.reserve(order, unique);
    let placed: Order;
    try {
      placed = await this.write(order, lines, target);
    } catch (err) {
      // Give the stock back only when the order is certainly not there: the shard answered with an error (or the
      // app refused before sending). A connection lost mid-statement may have committed the order; its
      // reservation then stays for the reconciler, which confirms it if the order exists and releases it if not
      // (releasing here could leave an order without its reservation: oversold stock). A release that fails
      // (the products service is down) is left to the reconciler as well.
      if (orderCertainlyNotWritten(err))
        await this.stock.release(order.id, unique, order.requestId).catch(() => {});
      throw err;
    }
    // Best effort: an unconfirmed reservation of an existing order is confirmed by the reconciler.
    await this.stock.confirm(order.id, order.requestId).catch(() => {});
    return placed;
  }

  /** Step 1 (see {@link CatalogStock.reserve}). */
  reserve(order: OrderRequest, tags: readonly string[]): Promise<OrderLine[]> {
    return this.stock.reserve(order, tags);
  }

  /** Step 2: writes the order and its lines on the user's shard (one statement). */
  write(order: OrderRequest, lines: readonly OrderLine[], target: OrderTarget): Promise<Order> {
    return this.orders.insertPriced(target.writer, target.schema, {
      id: order.id,
      userId: order.userId,
      lines,
    });
  }

  /** Step 3: marks the order's reservation confirmed (its order exists). */
  confirm(orderId: string): Promise<void> {
    return this.stock.confirm(orderId);
  }

  /** Releases an order's unconfirmed reservation; returns the number of lines given back. */
  release(orderId: string, tags: readonly string[] = []): Promise<number> {
    return this.stock.release(orderId, tags);
  }
}

/**
 * Gives an order's unconfirmed reservation back to stock (idempotent) on `catalog`, recording `tags` in the
 * outbox when anything was released; returns the number of lines released.
 */
export async function releaseReservation(
  catalog: SqlExecutor,
  orderId: string,
  tags: readonly string[] = [],
): Promise<number> {
  const { rows } = await catalog.query<{ released: number }>(RELEASE, [orderId, [...tags]]);
  return Number(rows[0]?.released ?? 0);
}

/**
 * True when a failed order write certainly wrote nothing: an error the app raised itself (an HTTP error, the
 * shard map's 503) or an error response from PostgreSQL (it has a severity and a SQLSTATE: the statement was
 * rolled back). False for a lost connection (no response: the COMMIT may have happened).
 */
export function orderCertainlyNotWritten(err: unknown): boolean {
  if (err instanceof HttpError || err instanceof ShardUnavailableError) return true;
  const e = err as { severity?: unknown; code?: unknown } | null;
  return typeof e?.severity === 'string' && typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code);
}
