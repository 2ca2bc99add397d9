/**
 * The shop traffic of the benches on the multi-process local topologies (`bench:1m`, bench/services.ts, and
 * `bench:global`, bench/global.ts): the demo catalog stocked for a whole run, customers signed up over HTTP, and
 * the product reads and orders the open-loop generator sends.
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { sessionCookie } from './topology';
import type { PlannedRequest } from './workload';

/**
 * Gives every product of the demo catalog enough stock for every order of a run (the demo's own is small) and
 * returns the product ids.
 * @throws Error when the catalog is empty
 */
export async function stockDemoCatalog(databaseUrl: string): Promise<string[]> {
  const pg = new Client({ connectionString: databaseUrl });
  await pg.connect();
  const { rows } = await pg.query<{ id: string }>(
    'UPDATE products SET stock = 10000000 RETURNING id::text AS id',
  );
  await pg.end();
  const productIds = rows.map((r) => r.id);
  if (productIds.length === 0) throw new Error('the demo catalog is empty');
  return productIds;
}

/** A customer signed up by {@link signUpCustomers}. */
export interface SignedUpCustomer {
  readonly userId: string;
  /** The session's `Cookie` header value (`sid=...`). */
  readonly cookie: string;
}

/**
 * Signs `count` customers up through `POST <baseUrl>/api/users`, one after another, each with an email of its
 * own, and returns them in sign-up order.
 * @param headers added to each sign-up (e.g. the viewer country the geo router routes by)
 * @throws Error on an answer other than 201, with its status and body
 */
export async function signUpCustomers(
  baseUrl: string,
  count: number,
  headers: Readonly<Record<string, string>> = {},
): Promise<SignedUpCustomer[]> {
  const customers: SignedUpCustomer[] = [];
  for (let i = 0; i < count; i++) {
    const response = await fetch(`${baseUrl}/api/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({
        email: `bench-${randomBytes(4).toString('hex')}@bench.test`,
        password: 'correct horse battery',
        name: 'Bench',
      }),
    });
    if (response.status !== 201)
      throw new Error(`sign-up failed: ${response.status} ${await response.text()}`);
    const cookie = sessionCookie(response.headers.getSetCookie(), `sign-up ${i}`);
    const { user } = (await response.json()) as { user: { id: string } };
    customers.push({ userId: user.id, cookie });
  }
  return customers;
}

/** Plans of the shop's requests, taking the products (and customers) in turn. */
export interface ShopRequestPlans {
  /** The next product of the turn that reads and orders share. */
  nextProductId(): string;
  /** `GET /api/products/:id` of the next product. */
  productRead(): PlannedRequest;
  /** A plan of `POST /api/orders` (one unit of the next product) as the next of `customers` (session cookies). */
  placeOrderAs(customers: readonly string[]): () => PlannedRequest;
}

/** One turn over `productIds` for every plan it returns, so that consecutive requests spread over the catalog. */
export function shopRequestPlans(productIds: readonly string[]): ShopRequestPlans {
  let next = 0;
  const nextProductId = () => productIds[next++ % productIds.length];
  return {
    nextProductId,
    productRead: () => ({
      op: 'productPage',
      method: 'GET',
      path: `/api/products/${nextProductId()}`,
      headers: {},
    }),
    // The customer and the product advance together: order n is customer n's (mod) and product n's (mod).
    placeOrderAs: (customers) => () => {
      const n = next++;
      return {
        op: 'placeOrder',
        method: 'POST',
        path: '/api/orders',
        headers: { cookie: customers[n % customers.length], 'content-type': 'application/json' },
        body: JSON.stringify({ items: [{ productId: productIds[n % productIds.length], quantity: 1 }] }),
      };
    },
  };
}

/** Every database of an app's environment: DATABASE_URL's, then each of SHARD_ENDPOINTS's in its order. */
export function databaseUrlsOf(env: Readonly<Record<string, string>>): string[] {
  return [env.DATABASE_URL, ...(JSON.parse(env.SHARD_ENDPOINTS) as { url: string }[]).map((e) => e.url)];
}
