import { v7 as uuidv7 } from 'uuid';
import type { SqlExecutor } from '../db/database';
import { badRequest, conflict, isUniqueViolation } from '../errors';

/** A product as stored in the catalog and returned by the API (JSON-safe, so it can be cached as is). */
export interface Product {
  id: string;
  sku: string;
  name: string;
  description: string;
  priceCents: number;
  stock: number;
  updatedAt: string;
}

/** One page of the catalog. */
export interface ProductPage {
  items: Product[];
  nextCursor: string | null;
}

/** Fields of a new product. */
export interface NewProduct {
  sku: string;
  name: string;
  description?: string;
  priceCents: number;
  stock: number;
}

/** Fields an admin may change. */
export type ProductChanges = Partial<Pick<Product, 'name' | 'description' | 'priceCents' | 'stock'>>;

/** A line the catalog has priced and taken out of stock. */
export interface ReservedLine {
  productId: string;
  name: string;
  quantity: number;
  unitPriceCents: number;
}

interface ProductRow {
  id: string;
  sku: string;
  name: string;
  description: string;
  price_cents: number;
  stock: number;
  updated_at: Date | string;
}

const COLUMNS = 'id, sku, name, description, price_cents, stock, updated_at';

function toProduct(row: ProductRow): Product {
  return {
    id: row.id,
    sku: row.sku,
    name: row.name,
    description: row.description,
    priceCents: Number(row.price_cents),
    stock: Number(row.stock),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

/**
 * Turns free text into a prefix-matching full-text query ("cop ket" -> "cop:* & ket:*"), keeping letters and
 * digits only so user input can never change the query's syntax. Null when nothing searchable is left.
 */
export function toSearchQuery(text: string): string | null {
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  if (words.length === 0) return null;
  return words
    .slice(0, 8)
    .map((word) => `${word.slice(0, 64)}:*`)
    .join(' & ');
}

/**
 * The catalog: products and their stock. It is its own repository because the catalog is a separate,
 * global data set: user data never joins it, and order placement talks to it only through
 * {@link CatalogRepository.reserveStock}. Reads take the executor to run on (reader or writer).
 */
export class CatalogRepository {
  /** Keyset pagination on id (time ordered), optionally filtered by full-text search. */
  async list(db: SqlExecutor, options: { limit: number; cursor?: string; q?: string }): Promise<ProductPage> {
    const params: unknown[] = [options.limit + 1];
    const where: string[] = [];
    if (options.cursor) {
      params.push(options.cursor);
      where.push(`id > $${params.length}`);
    }
    const search = options.q ? toSearchQuery(options.q) : null;
    if (search) {
      params.push(search);
      where.push(`search @@ to_tsquery('simple', $${params.length})`);
    }
    const { rows } = await db.query<ProductRow>(
      `SELECT ${COLUMNS} FROM products ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT $1`,
      params,
    );
    const items = rows.slice(0, options.limit).map(toProduct);
    return { items, nextCursor: rows.length > options.limit ? items[items.length - 1].id : null };
  }

  /** One product, or null. */
  async get(db: SqlExecutor, id: string): Promise<Product | null> {
    const { rows } = await db.query<ProductRow>(`SELECT ${COLUMNS} FROM products WHERE id = $1`, [id]);
    return rows[0] ? toProduct(rows[0]) : null;
  }

  /** Inserts a product; 409 when the SKU exists. */
  async create(db: SqlExecutor, input: NewProduct): Promise<Product> {
    try {
      const { rows } = await db.query<ProductRow>(
        `INSERT INTO products (id, sku, name, description, price_cents, stock)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${COLUMNS}`,
        [uuidv7(), input.sku, input.name, input.description ?? '', input.priceCents, input.stock],
      );
      return toProduct(rows[0]);
    } catch (err) {
      if (isUniqueViolation(err, 'products_sku_key')) throw conflict(`sku "${input.sku}" already exists`);
      throw err;
    }
  }

  /** Applies changes; null when the product does not exist. */
  async update(db: SqlExecutor, id: string, changes: ProductChanges): Promise<Product | null> {
    const columns: Record<keyof ProductChanges, string> = {
      name: 'name',
      description: 'description',
      priceCents: 'price_cents',
      stock: 'stock',
    };
    const sets: string[] = [];
    const params: unknown[] = [id];
    for (const [field, column] of Object.entries(columns) as [keyof ProductChanges, string][]) {
      if (changes[field] === undefined) continue;
      params.push(changes[field]);
      sets.push(`${column} = $${params.length}`);
    }
    const { rows } = await db.query<ProductRow>(
      `UPDATE products SET ${sets.join(', ')}, updated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`,
      params,
    );
    return rows[0] ? toProduct(rows[0]) : null;
  }

  /**
   * Prices the lines from the current catalog and takes them out of stock, inside the caller's transaction.
   * Rows are locked in id order so concurrent orders cannot deadlock; a line naming an unknown product is a
   * 400 naming it, a line asking for more than the stock is a 409.
   */
  async reserveStock(
    tx: SqlExecutor,
    lines: readonly { productId: string; quantity: number; field: string }[],
  ): Promise<ReservedLine[]> {
    const ids = lines.map((line) => line.productId);
    const { rows } = await tx.query<{ id: string; name: string; price_cents: number; stock: number }>(
      'SELECT id, name, price_cents, stock FROM products WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE',
      [ids],
    );
    const byId = new Map(rows.map((row) => [row.id, row]));
    for (const line of lines) {
      const row = byId.get(line.productId);
      if (!row) throw badRequest(`${line.field}: product ${line.productId} does not exist`);
      if (Number(row.stock) < line.quantity) {
        throw conflict(
          `${line.field}: only ${row.stock} of "${row.name}" in stock, ${line.quantity} requested`,
        );
      }
    }
    await tx.query(
      `UPDATE products SET stock = products.stock - q.quantity, updated_at = now()
       FROM unnest($1::uuid[], $2::int[]) AS q(id, quantity) WHERE products.id = q.id`,
      [ids, lines.map((line) => line.quantity)],
    );
    return lines.map((line) => {
      const row = byId.get(line.productId)!;
      return {
        productId: row.id,
        name: row.name,
        quantity: line.quantity,
        unitPriceCents: Number(row.price_cents),
      };
    });
  }
}
