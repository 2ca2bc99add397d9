/**
 * The benchmark workload: which request comes next, in what proportion, against which product/user.
 * Pure (given a seeded {@link Random}), so the mix is unit-tested; bench/population.ts decides who sends each
 * request and bench/open-loop.ts sends them at a fixed rate.
 */
import type { Random } from './zipf';

/** Relative weights of each operation; they must sum to 1. */
export interface WorkloadMix {
  /** GET /api/products/:id, product chosen with a Zipf distribution. */
  readonly productPage: number;
  /** GET /api/products?limit=20&cursor=..., page chosen with a Zipf distribution (page 1 most popular). */
  readonly catalogPage: number;
  /** GET /api/orders as a logged-in customer. */
  readonly myOrders: number;
  /** POST /api/orders with 1 to 3 products (Zipf) as a logged-in customer. */
  readonly placeOrder: number;
  /** PATCH /api/products/:id (price change) as the admin, product chosen with Zipf. */
  readonly updateProduct: number;
}

/** One kind of request in the mix. */
export type Operation = keyof WorkloadMix;

/** The operations that write to the database. */
export const WRITE_OPERATIONS: readonly Operation[] = ['placeOrder', 'updateProduct'];

/** The mix: 90% reads (product pages, catalog pages, my orders), 10% writes (orders, updates). */
export const DEFAULT_MIX: WorkloadMix = {
  productPage: 0.6,
  catalogPage: 0.2,
  myOrders: 0.1,
  placeOrder: 0.08,
  updateProduct: 0.02,
};

/** Product reads only: the "single app process serving cached product reads" scenario. */
export const PRODUCT_READS_MIX: WorkloadMix = {
  productPage: 1,
  catalogPage: 0,
  myOrders: 0,
  placeOrder: 0,
  updateProduct: 0,
};

/** Share of write operations in a mix (0..1). */
export function writeShare(mix: WorkloadMix): number {
  return WRITE_OPERATIONS.reduce((sum, op) => sum + mix[op], 0);
}

/** Throws one error listing every problem of a mix (negative or non-numeric weights, sum not 1). */
export function validateMix(mix: WorkloadMix): void {
  const problems: string[] = [];
  let sum = 0;
  for (const [op, weight] of Object.entries(mix)) {
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0) {
      problems.push(`mix.${op} must be a number >= 0, got ${String(weight)}`);
    } else {
      sum += weight;
    }
  }
  if (problems.length === 0 && Math.abs(sum - 1) > 1e-9) {
    problems.push(`mix weights must sum to 1, got ${Number(sum.toPrecision(12))}`);
  }
  if (problems.length) throw new Error(`invalid workload mix: ${problems.join('; ')}`);
}

/** Draws operations according to a mix. */
export class OperationPicker {
  private readonly ops: Operation[];
  private readonly cumulative: number[];

  constructor(mix: WorkloadMix) {
    validateMix(mix);
    this.ops = (Object.keys(mix) as Operation[]).filter((op) => mix[op] > 0);
    let sum = 0;
    this.cumulative = this.ops.map((op) => (sum += mix[op]));
  }

  /** The next operation. */
  pick(random: Random): Operation {
    const u = random() * this.cumulative[this.cumulative.length - 1];
    const index = this.cumulative.findIndex((c) => u < c);
    return this.ops[index === -1 ? this.ops.length - 1 : index];
  }
}

/** What the workload needs to know about the seeded data and the logged-in users. */
export interface WorkloadData {
  /** Product ids in popularity order (index 0 is the hottest); shuffle before passing. */
  readonly productIds: readonly string[];
  /** Catalog page cursors in page order; the first entry is `null` (first page). */
  readonly catalogCursors: readonly (string | null)[];
  /** `Cookie` header values of logged-in customers. */
  readonly customerCookies: readonly string[];
  /** `Cookie` header value of a logged-in admin (needed when the mix has product updates). */
  readonly adminCookie?: string;
}

/** One request to send. */
export interface PlannedRequest {
  readonly op: Operation;
  readonly method: 'GET' | 'POST' | 'PATCH';
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: string;
}
