/**
 * Who sends each request of the open-loop load: a population of logged-in customers with think time, anonymous
 * browsers and one admin, with the workload's 90/10 read/write mix.
 *
 * Each arrival draws its operation from the mix; then
 * - "my orders" and orders come from a customer;
 * - product and catalog pages come from a customer with probability `customerBrowseShare`, else from an
 *   anonymous browser (no session cookie);
 * - price updates come from the admin.
 * A customer is drawn at random among those who have not sent a request in the last `minThinkMs`, so no
 * customer sends more than one request per `minThinkMs`, and with thousands of customers the gap between two
 * requests of one customer (its think time) is tens of seconds, as for a person using a shop.
 *
 * The planner also counts the requests that fall inside their sender's read-your-writes window (a request from
 * a session that wrote less than `rywWindowMs` before): those reads bypass the cache and may go to the primary.
 * Pure given a seeded {@link Random}, so all of this is unit-tested.
 */
import {
  OperationPicker,
  WRITE_OPERATIONS,
  type Operation,
  type PlannedRequest,
  type WorkloadData,
  type WorkloadMix,
} from './workload';
import { ZipfSampler, type Random } from './zipf';

/** Options of {@link createPopulationPlanner}. */
export interface PopulationOptions {
  readonly mix: WorkloadMix;
  readonly random: Random;
  /** Zipf exponent for products and catalog pages. @default 1 */
  readonly zipfExponent?: number;
  /** Page size of catalog requests. @default 20 */
  readonly catalogPageSize?: number;
  /** Share of product and catalog page views made by logged-in customers; the rest are anonymous. @default 0.5 */
  readonly customerBrowseShare?: number;
  /** Shortest gap between two requests of one customer, ms. @default 1000 */
  readonly minThinkMs?: number;
  /** The app's read-your-writes window (READ_YOUR_WRITES_WINDOW_MS), ms. @default 5000 */
  readonly rywWindowMs?: number;
}

/** Who sent a request. */
export type Actor = 'customer' | 'anonymous' | 'admin';

/** What the population did during a run (from the plan; the server's side is measured separately). */
export interface PopulationStats {
  readonly requests: number;
  readonly byActor: Readonly<Record<Actor, number>>;
  /** Customers with a session in the population. */
  readonly customers: number;
  /** Distinct customers who sent at least one request. */
  readonly activeCustomers: number;
  /** Smallest gap between two requests of the same customer, ms (null with fewer than two). */
  readonly minCustomerGapMs: number | null;
  /** Mean gap between two consecutive requests of the same customer, ms (null with fewer than two). */
  readonly meanCustomerGapMs: number | null;
  /** Requests whose sender (customer or admin) wrote less than the read-your-writes window before. */
  readonly insideRywWindow: number;
  /** Of those, the reads (the requests read-your-writes routes differently). */
  readonly readsInsideRywWindow: number;
  /** Reads in the plan. */
  readonly reads: number;
}

/** A population planner: the next request at a given time, and what was planned so far. */
export interface PopulationPlanner {
  /** Plans the request scheduled at `atMs` (non-decreasing from call to call). */
  next(atMs: number): PlannedRequest;
  stats(): PopulationStats;
}

const CUSTOMER_OPERATIONS: readonly Operation[] = ['myOrders', 'placeOrder'];
const BROWSE_OPERATIONS: readonly Operation[] = ['productPage', 'catalogPage'];

/**
 * Customers needed so that `customerRate` requests/s never need a customer sooner than `minThinkMs` after their
 * last request (the population must be larger than the requests of one think time).
 */
export function customerRate(mix: WorkloadMix, ratePerSecond: number, customerBrowseShare: number): number {
  const own = CUSTOMER_OPERATIONS.reduce((sum, op) => sum + mix[op], 0);
  const browse = BROWSE_OPERATIONS.reduce((sum, op) => sum + mix[op], 0);
  return ratePerSecond * (own + browse * customerBrowseShare);
}

/** Creates a population planner; validates up front that the data can serve the mix. */
export function createPopulationPlanner(data: WorkloadData, options: PopulationOptions): PopulationPlanner {
  const { mix, random } = options;
  const picker = new OperationPicker(mix);
  const browseShare = options.customerBrowseShare ?? 0.5;
  const minThinkMs = options.minThinkMs ?? 1000;
  const rywWindowMs = options.rywWindowMs ?? 5000;
  const problems: string[] = [];
  if (!(browseShare >= 0 && browseShare <= 1))
    problems.push(`customerBrowseShare must be in [0, 1], got ${browseShare}`);
  if (!(minThinkMs >= 0)) problems.push(`minThinkMs must be >= 0, got ${minThinkMs}`);
  if ((mix.productPage > 0 || mix.placeOrder > 0 || mix.updateProduct > 0) && data.productIds.length === 0) {
    problems.push('productIds is empty');
  }
  if (mix.catalogPage > 0 && data.catalogCursors.length === 0) problems.push('catalogCursors is empty');
  const needsCustomers =
    mix.myOrders > 0 || mix.placeOrder > 0 || (browseShare > 0 && mix.productPage + mix.catalogPage > 0);
  if (needsCustomers && data.customerCookies.length === 0) problems.push('customerCookies is empty');
  if (mix.updateProduct > 0 && !data.adminCookie) problems.push('adminCookie is missing');
  if (problems.length) throw new Error(`workload data cannot serve the mix: ${problems.join('; ')}`);

  const exponent = options.zipfExponent ?? 1;
  const pageSize = options.catalogPageSize ?? 20;
  const products = data.productIds.length ? new ZipfSampler(data.productIds.length, exponent) : undefined;
  const pages = data.catalogCursors.length
    ? new ZipfSampler(data.catalogCursors.length, exponent)
    : undefined;
  const product = () => data.productIds[products!.sample(random)];
  const json = { 'content-type': 'application/json' };

  // Customers ready to send (any order) and those still thinking (FIFO: every think time is minThinkMs, and
  // requests come in time order, so they become ready in the order they were used).
  const ready: number[] = data.customerCookies.map((_, i) => i);
  const thinking: { readonly customer: number; readonly readyAt: number }[] = [];
  let thinkingHead = 0;
  const lastRequestAt = new Map<number, number>();
  const lastWriteAt = new Map<string, number>();
  let gapSum = 0;
  let gaps = 0;
  let minGap: number | null = null;
  let lastAt = -Infinity;
  const stats = {
    requests: 0,
    byActor: { customer: 0, anonymous: 0, admin: 0 } as Record<Actor, number>,
    insideRywWindow: 0,
    readsInsideRywWindow: 0,
    reads: 0,
  };

  const takeCustomer = (atMs: number): number => {
    while (thinkingHead < thinking.length && thinking[thinkingHead].readyAt <= atMs) {
      ready.push(thinking[thinkingHead++].customer);
    }
    if (thinkingHead > 4096 && thinkingHead * 2 > thinking.length) {
      thinking.splice(0, thinkingHead);
      thinkingHead = 0;
    }
    if (ready.length === 0) {
      throw new Error(
        `all ${data.customerCookies.length} customers sent a request in the last ${minThinkMs} ms at ` +
          `${atMs.toFixed(0)} ms: log in more customers (--logins) or lower the rate`,
      );
    }
    const index = Math.floor(random() * ready.length);
    const customer = ready[index];
    ready[index] = ready[ready.length - 1];
    ready.pop();
    thinking.push({ customer, readyAt: atMs + minThinkMs });
    const previous = lastRequestAt.get(customer);
    if (previous !== undefined) {
      const gap = atMs - previous;
      gapSum += gap;
      gaps++;
      minGap = minGap === null ? gap : Math.min(minGap, gap);
    }
    lastRequestAt.set(customer, atMs);
    return customer;
  };

  const plan = (op: Operation, cookie: string | undefined): PlannedRequest => {
    const session: Record<string, string> = cookie ? { cookie } : {};
    switch (op) {
      case 'productPage':
        return {
          op,
          method: 'GET',
          path: `/api/products/${encodeURIComponent(product())}`,
          headers: session,
        };
      case 'catalogPage': {
        const cursor = data.catalogCursors[pages!.sample(random)];
        const query = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
        return { op, method: 'GET', path: `/api/products?limit=${pageSize}${query}`, headers: session };
      }
      case 'myOrders':
        return { op, method: 'GET', path: '/api/orders', headers: session };
      case 'placeOrder': {
        const count = 1 + Math.floor(random() * 3);
        const ids = new Set<string>();
        while (ids.size < Math.min(count, data.productIds.length)) ids.add(product());
        const items = [...ids].map((productId) => ({ productId, quantity: 1 }));
        return {
          op,
          method: 'POST',
          path: '/api/orders',
          headers: { ...json, ...session },
          body: JSON.stringify({ items }),
        };
      }
      case 'updateProduct':
        return {
          op,
          method: 'PATCH',
          path: `/api/products/${encodeURIComponent(product())}`,
          headers: { ...json, ...session },
          body: JSON.stringify({ priceCents: 100 + Math.floor(random() * 99_900) }),
        };
    }
  };

  return {
    next(atMs: number): PlannedRequest {
      if (atMs < lastAt)
        throw new Error(`requests must be planned in time order: ${atMs} ms after ${lastAt} ms`);
      lastAt = atMs;
      const op = picker.pick(random);
      let actor: Actor;
      let sessionKey: string | undefined;
      let cookie: string | undefined;
      if (op === 'updateProduct') {
        actor = 'admin';
        sessionKey = 'admin';
        cookie = data.adminCookie;
      } else if (CUSTOMER_OPERATIONS.includes(op) || random() < browseShare) {
        actor = 'customer';
        const customer = takeCustomer(atMs);
        sessionKey = `c${customer}`;
        cookie = data.customerCookies[customer];
      } else {
        actor = 'anonymous';
      }
      const isWrite = WRITE_OPERATIONS.includes(op);
      stats.requests++;
      stats.byActor[actor]++;
      if (!isWrite) stats.reads++;
      if (sessionKey !== undefined) {
        const wroteAt = lastWriteAt.get(sessionKey);
        if (wroteAt !== undefined && atMs - wroteAt < rywWindowMs) {
          stats.insideRywWindow++;
          if (!isWrite) stats.readsInsideRywWindow++;
        }
        if (isWrite) lastWriteAt.set(sessionKey, atMs);
      }
      return plan(op, cookie);
    },
    stats(): PopulationStats {
      return {
        ...stats,
        byActor: { ...stats.byActor },
        customers: data.customerCookies.length,
        activeCustomers: lastRequestAt.size,
        minCustomerGapMs: minGap,
        meanCustomerGapMs: gaps ? gapSum / gaps : null,
      };
    },
  };
}
