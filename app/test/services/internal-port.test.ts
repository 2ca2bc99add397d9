// The products service's internal API on INTERNAL_PORT only (contract amendment of issue #14): the public port
// answers 404 to /internal in every spelling a path-matching proxy (ALB, API Gateway) would let through, the
// internal port serves it with the app's validation and errors, the monolith has none, and close() closes it.
// Every app here runs on one database of the test server (PostgreSQL on 127.0.0.1:5432; the embedded database
// would cost each of them seconds of start-up for nothing these tests look at).
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app';
import { ConfigError, loadConfig } from '../../src/config';
import { testConfig } from '../support/app';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { createTestRedisPrefix, TEST_REDIS_URL, type TestRedisPrefix } from '../support/redis';

jest.setTimeout(60_000);

const SECRET = 'x'.repeat(32);
const orderId = '01900000-0000-7000-8000-0000000000ab';
const userId = '01900000-0000-7000-8000-0000000000ac';

let redis: TestRedisPrefix;
let database: TestDatabase;
let products: FastifyInstance;
let publicUrl: string;
let internalUrl: string;

/** A request with its path sent byte for byte (fetch would normalise `/api/../` and friends). */
function send(
  base: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: string }> {
  const url = new URL(base);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: payload ? { 'content-type': 'application/json' } : {},
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${path}`)));
    req.end(payload);
  });
}

beforeAll(async () => {
  redis = createTestRedisPrefix();
  database = await createTestDatabase();
  products = await buildApp({
    config: testConfig({
      DATABASE_URL: database.url,
      SERVICE: 'products',
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: redis.prefix,
      SESSION_SECRET: SECRET,
      SEED_DEMO_DATA: 'true',
      METRICS_PORT: '0',
      INTERNAL_PORT: '0',
    }),
    logger: false,
  });
  await products.listen({ port: 0, host: '127.0.0.1' });
  await products.internalServer!.listen({ port: 0, host: '127.0.0.1' });
  publicUrl = `http://127.0.0.1:${(products.server.address() as AddressInfo).port}`;
  internalUrl = `http://127.0.0.1:${(products.internalServer!.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await products?.close();
  await redis?.cleanup();
  await database?.drop();
});

const spellings = [
  `/internal/reservations/${orderId}/release`,
  `/%69nternal/reservations/${orderId}/release`,
  `/%69%6e%74%65%72%6e%61%6c/reservations/${orderId}/release`,
  `/internal%2Freservations%2F${orderId}%2Frelease`,
  `/%2Finternal/reservations/${orderId}/release`,
  `/%2finternal%2freservations/${orderId}/release`,
  `/INTERNAL/reservations/${orderId}/release`,
  `/Internal/reservations/${orderId}/release`,
  `//internal/reservations/${orderId}/release`,
  `/./internal/reservations/${orderId}/release`,
  `/api/../internal/reservations/${orderId}/release`,
  `/api/products/%2e%2e/%2e%2e/internal/reservations/${orderId}/release`,
  `/internal/reservations/${orderId}/release?x=1`,
];

test('the public port answers 404 to the internal API in every spelling, for every method', async () => {
  for (const path of spellings) {
    for (const method of ['POST', 'GET']) {
      const response = await send(publicUrl, method, path);
      expect({ method, path, status: response.status }).toEqual({ method, path, status: 404 });
      expect(response.body).not.toContain('released');
    }
  }
  // AND the internal port does serve it (the same request that was refused above)
  const direct = await send(internalUrl, 'POST', `/internal/reservations/${orderId}/release`);
  expect(direct).toEqual({ status: 200, body: JSON.stringify({ released: 0 }) });
});

test('the internal port reserves with the app validation and errors, and serves nothing else', async () => {
  const { rows } = await products.shop.db.writer.query<{ id: string; stock: number }>(
    'SELECT id::text, stock FROM products ORDER BY id LIMIT 2',
  );
  const product = rows[0];
  const line = { productId: product.id, quantity: 1, field: 'body/items/0/productId' };
  // A reservation: priced lines back, stock taken; the retry finds the same reservation (idempotent)
  for (let attempt = 0; attempt < 2; attempt++) {
    const reserved = await send(internalUrl, 'POST', `/internal/reservations/${orderId}`, {
      userId,
      lines: [line],
    });
    expect(reserved.status).toBe(200);
    expect(JSON.parse(reserved.body).lines).toEqual([
      expect.objectContaining({ productId: product.id, quantity: 1 }),
    ]);
  }
  const after = await products.shop.db.writer.query<{ stock: number }>(
    'SELECT stock FROM products WHERE id = $1',
    [product.id],
  );
  expect(after.rows[0].stock).toBe(product.stock - 1);
  // A bad request is a 400 naming the field, as on the public port
  const bad = await send(internalUrl, 'POST', '/internal/reservations/not-a-uuid', { userId, lines: [line] });
  expect(bad.status).toBe(400);
  expect(JSON.parse(bad.body).message).toMatch(/^params\/orderId /);
  // More than the stock: the 409 the orders service passes on
  await products.shop.db.writer.query('UPDATE products SET stock = 0 WHERE id = $1', [rows[1].id]);
  const tooMany = await send(
    internalUrl,
    'POST',
    '/internal/reservations/01900000-0000-7000-8000-0000000000ad',
    {
      userId,
      lines: [{ ...line, productId: rows[1].id }],
    },
  );
  expect(tooMany.status).toBe(409);
  // Released again (the reconciler's or the orders service's way out)
  const released = await send(internalUrl, 'POST', `/internal/reservations/${orderId}/release`);
  expect(JSON.parse(released.body)).toEqual({ released: 1 });
  // Nothing public on the internal port, and nothing internal on the public one
  expect((await send(internalUrl, 'GET', '/api/products')).status).toBe(404);
  expect((await send(publicUrl, 'GET', '/api/products')).status).toBe(200);
});

test('the monolith has no internal server and no internal routes', async () => {
  const monolith = await buildApp({
    config: testConfig({ DATABASE_URL: database.url, METRICS_PORT: '0' }),
    logger: false,
  });
  try {
    expect(monolith.internalServer).toBeUndefined();
    const response = await monolith.inject({
      method: 'POST',
      url: `/internal/reservations/${orderId}/release`,
    });
    expect(response.statusCode).toBe(404);
  } finally {
    await monolith.close();
  }
});

test('close() closes the internal server too', async () => {
  const app = await buildApp({
    config: testConfig({
      DATABASE_URL: database.url,
      SERVICE: 'products',
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: redis.prefix,
      SESSION_SECRET: SECRET,
      METRICS_PORT: '0',
      INTERNAL_PORT: '0',
    }),
    logger: false,
  });
  await app.internalServer!.listen({ port: 0, host: '127.0.0.1' });
  expect(app.internalServer!.server.listening).toBe(true);
  await app.close();
  expect(app.internalServer!.server.listening).toBe(false);
});

describe('INTERNAL_PORT', () => {
  const products = { SERVICE: 'products', REDIS_URL: TEST_REDIS_URL, SESSION_SECRET: SECRET };
  const problemsOf = (env: Record<string, string>) => {
    try {
      loadConfig(env);
      return [];
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
  };

  test('defaults to 3001 and must differ from PORT and METRICS_PORT on the products service', () => {
    expect(loadConfig(products).internalPort).toBe(3001);
    expect(problemsOf({ ...products, INTERNAL_PORT: '3000' })).toEqual([
      'INTERNAL_PORT and PORT are both 3000: the internal API needs a port of its own that the load balancer does not route to',
    ]);
    expect(problemsOf({ ...products, INTERNAL_PORT: '9464' })).toEqual([
      expect.stringMatching(/^INTERNAL_PORT and METRICS_PORT are both 9464/),
    ]);
    expect(problemsOf({ ...products, INTERNAL_PORT: 'x' })).toEqual(['INTERNAL_PORT must be integer']);
    // Other processes never listen on it
    expect(problemsOf({ INTERNAL_PORT: '3000' })).toEqual([]);
  });
});
