import type { Role } from './user-repository';
import { safeSchema } from '../sharding/logical-shard';
import { mergeSorted, unionAll, type ScatterGather } from '../sharding/scatter-gather';

/** Whether some shards did not answer: their rows are missing from the result. */
export interface Completeness {
  /** True when at least one shard did not answer in time; its rows are not in the result. */
  partial: boolean;
  /** Ids of the physical shards that did not answer (empty when complete). */
  missingShards: string[];
}

/** An order that contains a product, as the admin report shows it. */
export interface ProductOrder {
  id: string;
  userId: string;
  status: string;
  totalCents: number;
  createdAt: string;
  /** Units of the product in this order. */
  quantity: number;
}

/** A user as the admin search shows it (stored role; the route applies ADMIN_EMAILS). */
export interface FoundUser {
  id: string;
  email: string;
  name: string;
  role: Role;
  createdAt: string;
}

/** One day of sales (UTC). */
export interface SalesDay {
  /** `YYYY-MM-DD` (UTC). */
  day: string;
  orders: number;
  totalCents: number;
}

interface ProductOrderRow {
  id: string;
  user_id: string;
  status: string;
  total_cents: string | number;
  created_at: Date | string;
  quantity: string | number;
}

interface UserRow {
  id: string;
  email: string;
  name: string;
  role: Role;
  created_at: Date | string;
}

interface SalesRow {
  day: string;
  orders: string | number;
  cents: string | number;
}

/** Ids as PostgreSQL orders uuid (bytewise): lower-case hex text compares the same way. */
const byIdDescending = (a: { id: string }, b: { id: string }) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

/** Emails in the order of `COLLATE "C"` (UTF-8 bytes), which is what each shard sorted and filtered by. */
const byEmail = (a: { email: string }, b: { email: string }) =>
  Buffer.compare(Buffer.from(a.email, 'utf8'), Buffer.from(b.email, 'utf8'));

/** `text` as a LIKE prefix pattern: its own `%`, `_` and `\` match literally. */
export function likePrefix(text: string): string {
  return `${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

const DAY_MS = 86_400_000;

/**
 * The admin reports that need every user, answered by a scatter-gather over the physical shards (see
 * {@link ScatterGather}): each shard runs one statement, a `UNION ALL` over its logical shard schemas with the
 * `ORDER BY … LIMIT` pushed into every branch and once more over the union; the app merges the shards' sorted
 * pages (a k-way merge) or sums their per-day aggregates. Unsharded, the same statements run once, on `public`.
 */
export class AdminReports {
  constructor(private readonly scatter: ScatterGather) {}

  /**
   * Orders that contain `productId`, newest first (UUIDv7 ids: id order is creation order), `limit` per page;
   * `cursor` is the last id of the previous page.
   */
  async ordersWithProduct(
    productId: string,
    limit: number,
    cursor?: string,
  ): Promise<{ items: ProductOrder[]; nextCursor: string | null } & Completeness> {
    // One more row than the page per shard tells whether a next page exists.
    const take = limit + 1;
    const gathered = await this.scatter.gather<ProductOrderRow>(
      (schemas) =>
        `SELECT * FROM (${unionAll(schemas, (schema) => {
          const s = safeSchema(schema);
          return `SELECT o.id, o.user_id, o.status, o.total_cents, o.created_at, sum(i.quantity) AS quantity
            FROM ${s}.orders o JOIN ${s}.order_items i ON i.order_id = o.id
            WHERE i.product_id = $1 AND ($2::uuid IS NULL OR o.id < $2::uuid)
            GROUP BY o.id ORDER BY o.id DESC LIMIT $3`;
        })}) AS u ORDER BY id DESC LIMIT $3`,
      [productId, cursor ?? null, take],
    );
    const { items, more } = mergeSorted(
      gathered.answers.map((answer) => answer.rows),
      byIdDescending,
      limit,
    );
    return {
      items: items.map((row) => ({
        id: row.id,
        userId: row.user_id,
        status: row.status,
        totalCents: Number(row.total_cents),
        createdAt: new Date(row.created_at).toISOString(),
        quantity: Number(row.quantity),
      })),
      nextCursor: more ? items[items.length - 1].id : null,
      ...completeness(gathered.missingShards),
    };
  }

  /**
   * Users whose email or name (case-insensitive) starts with `prefix`, by email, `limit` per page; `cursor` is the
   * last email of the previous page.
   */
  async searchUsers(
    prefix: string,
    limit: number,
    cursor?: string,
  ): Promise<{ items: FoundUser[]; nextCursor: string | null } & Completeness> {
    const take = limit + 1;
    const gathered = await this.scatter.gather<UserRow>(
      (schemas) =>
        `SELECT * FROM (${unionAll(schemas, (schema) => {
          const s = safeSchema(schema);
          // Emails are stored lower-cased. COLLATE "C": the same order on every shard and in the merge.
          return `SELECT id, email, name, role, created_at FROM ${s}.users
            WHERE (email LIKE $1 OR lower(name) LIKE $1) AND ($2::text IS NULL OR email COLLATE "C" > $2)
            ORDER BY email COLLATE "C" LIMIT $3`;
        })}) AS u ORDER BY email COLLATE "C" LIMIT $3`,
      [likePrefix(prefix.toLowerCase()), cursor?.toLowerCase() ?? null, take],
    );
    const { items, more } = mergeSorted(
      gathered.answers.map((answer) => answer.rows),
      byEmail,
      limit,
    );
    return {
      items: items.map((row) => ({
        id: row.id,
        email: row.email,
        name: row.name,
        role: row.role,
        createdAt: new Date(row.created_at).toISOString(),
      })),
      nextCursor: more ? items[items.length - 1].email : null,
      ...completeness(gathered.missingShards),
    };
  }

  /**
   * Placed orders and their total per UTC day from `from` to `to` (inclusive, `YYYY-MM-DD`), every day listed
   * (zero when nothing sold). Each shard aggregates per day over its schemas; the shards' days are summed here.
   */
  async salesPerDay(
    from: string,
    to: string,
  ): Promise<{ days: SalesDay[]; orders: number; totalCents: number } & Completeness> {
    const gathered = await this.scatter.gather<SalesRow>(
      (schemas) =>
        `SELECT day::text AS day, sum(orders) AS orders, sum(cents) AS cents FROM (${unionAll(
          schemas,
          (schema) => `SELECT (created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS orders,
              sum(total_cents) AS cents FROM ${safeSchema(schema)}.orders
            WHERE status = 'placed' AND created_at >= ($1::date)::timestamp AT TIME ZONE 'UTC'
              AND created_at < ($2::date + 1)::timestamp AT TIME ZONE 'UTC'
            GROUP BY 1`,
        )}) AS u GROUP BY day`,
      [from, to],
    );
    const byDay = new Map<string, SalesDay>();
    for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += DAY_MS) {
      const day = new Date(t).toISOString().slice(0, 10);
      byDay.set(day, { day, orders: 0, totalCents: 0 });
    }
    for (const answer of gathered.answers) {
      for (const row of answer.rows) {
        const day = byDay.get(row.day);
        if (!day) continue;
        day.orders += Number(row.orders);
        day.totalCents += Number(row.cents);
      }
    }
    const days = [...byDay.values()];
    return {
      days,
      orders: days.reduce((sum, day) => sum + day.orders, 0),
      totalCents: days.reduce((sum, day) => sum + day.totalCents, 0),
      ...completeness(gathered.missingShards),
    };
  }
}

function completeness(missingShards: readonly string[]): Completeness {
  return { partial: missingShards.length > 0, missingShards: [...missingShards] };
}
