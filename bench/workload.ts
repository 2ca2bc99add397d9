/**
 * The benchmark workload: which request comes next, in what proportion, against which product/user.
 * Pure (given a seeded {@link Random}), so the mix and the skew are unit-tested; bench/load.ts feeds it
 * to autocannon one request at a time.
 */
import { ZipfSampler, type Random } from './zipf';

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

/** Options for {@link createRequestPlanner}. */
export interface RequestPlannerOptions {
  readonly mix: WorkloadMix;
  readonly random: Random;
  /** Zipf exponent for products and catalog pages. @default 1 */
  readonly zipfExponent?: number;
  /** Page size of catalog requests. @default 20 */
  readonly catalogPageSize?: number;
}

/**
 * Returns a function that plans the next request of the workload. Validates up front that the data
 * can serve the mix (e.g. customers present when the mix has order operations).
 */
export function createRequestPlanner(
  data: WorkloadData,
  options: RequestPlannerOptions,
): () => PlannedRequest {
  const { mix, random } = options;
  const picker = new OperationPicker(mix);
  const problems: string[] = [];
  if ((mix.productPage > 0 || mix.placeOrder > 0 || mix.updateProduct > 0) && data.productIds.length === 0) {
    problems.push('productIds is empty');
  }
  if (mix.catalogPage > 0 && data.catalogCursors.length === 0) problems.push('catalogCursors is empty');
  if ((mix.myOrders > 0 || mix.placeOrder > 0) && data.customerCookies.length === 0) {
    problems.push('customerCookies is empty');
  }
  if (mix.updateProduct > 0 && !data.adminCookie) problems.push('adminCookie is missing');
  if (problems.length) throw new Error(`workload data cannot serve the mix: ${problems.join('; ')}`);

  const exponent = options.zipfExponent ?? 1;
  const pageSize = options.catalogPageSize ?? 20;
  const products = data.productIds.length ? new ZipfSampler(data.productIds.length, exponent) : undefined;
  const pages = data.catalogCursors.length
    ? new ZipfSampler(data.catalogCursors.length, exponent)
    : undefined;
  const product = () => data.productIds[products!.sample(random)];
  const customer = () => data.customerCookies[Math.floor(random() * data.customerCookies.length)];
  const json = { 'content-type': 'application/json' };

  return (): PlannedRequest => {
    const op = picker.pick(random);
    switch (op) {
      case 'productPage':
        return { op, method: 'GET', path: `/api/products/${encodeURIComponent(product())}`, headers: {} };
      case 'catalogPage': {
        const cursor = data.catalogCursors[pages!.sample(random)];
        const query = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
        return { op, method: 'GET', path: `/api/products?limit=${pageSize}${query}`, headers: {} };
      }
      case 'myOrders':
        return { op, method: 'GET', path: '/api/orders', headers: { cookie: customer() } };
      case 'placeOrder': {
        const count = 1 + Math.floor(random() * 3);
        const ids = new Set<string>();
        while (ids.size < Math.min(count, data.productIds.length)) ids.add(product());
        const items = [...ids].map((productId) => ({ productId, quantity: 1 }));
        return {
          op,
          method: 'POST',
          path: '/api/orders',
          headers: { ...json, cookie: customer() },
          body: JSON.stringify({ items }),
        };
      }
      case 'updateProduct':
        return {
          op,
          method: 'PATCH',
          path: `/api/products/${encodeURIComponent(product())}`,
          headers: { ...json, cookie: data.adminCookie! },
          body: JSON.stringify({ priceCents: 100 + Math.floor(random() * 99_900) }),
        };
    }
  };
}
