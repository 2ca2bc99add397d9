// The local API gateway (app/src/gateway) with two processes of the products service (real HTTP servers): round-
// robin, a process that is gone gets no traffic for the cool-down, a GET fails over to the next process at once,
// a POST is never sent twice, and a process that comes back gets traffic again.
import Fastify, { type FastifyInstance } from 'fastify';
import { buildGateway } from '../../src/gateway/gateway';
import { loadGatewayConfig } from '../../src/gateway/gateway-config';

const seen: { process: string; method: string }[] = [];
const products: FastifyInstance[] = [];
const ports: number[] = [];
const others: FastifyInstance[] = [];
let gateway: FastifyInstance;
let baseUrl: string;

function productsProcess(name: string): FastifyInstance {
  const app = Fastify({ logger: false });
  app.all('/*', async (request) => {
    seen.push({ process: name, method: request.method });
    return { process: name };
  });
  return app;
}

beforeAll(async () => {
  const urls: Record<string, string> = {};
  for (const name of ['a', 'b']) {
    const app = productsProcess(name);
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    products.push(app);
    ports.push(Number(new URL(url).port));
  }
  urls.PRODUCTS_URL = ports.map((port) => `http://127.0.0.1:${port}`).join(',');
  for (const service of ['users', 'orders']) {
    const app = Fastify({ logger: false });
    app.all('/*', async () => ({ service }));
    urls[`${service.toUpperCase()}_URL`] = await app.listen({ port: 0, host: '127.0.0.1' });
    others.push(app);
  }
  const config = loadGatewayConfig({ ...urls, GATEWAY_UPSTREAM_COOLDOWN_MS: '300' });
  gateway = await buildGateway({ config, logger: false });
  baseUrl = await gateway.listen({ port: 0, host: '127.0.0.1' });
});

afterAll(async () => {
  await gateway?.close();
  await Promise.all([...products, ...others].map((app) => app.close()));
});

const call = (method = 'GET') => fetch(`${baseUrl}/api/products`, { method });

test('a comma-separated list of base URLs is one service with several processes; a bad item is named', () => {
  const config = loadGatewayConfig({
    USERS_URL: 'http://127.0.0.1:1',
    PRODUCTS_URL: 'http://127.0.0.1:2, http://127.0.0.1:3/',
    ORDERS_URL: 'http://127.0.0.1:4',
  });
  expect(config.upstreams.products).toEqual(['http://127.0.0.1:2', 'http://127.0.0.1:3']);
  expect(() =>
    loadGatewayConfig({
      USERS_URL: 'http://127.0.0.1:1',
      PRODUCTS_URL: 'http://127.0.0.1:2,products',
      ORDERS_URL: 'http://127.0.0.1:4',
    }),
  ).toThrow(/PRODUCTS_URL must be .*comma-separated list .*got "products"/);
});

test('requests alternate between the processes', async () => {
  seen.length = 0;
  for (let i = 0; i < 4; i++) expect((await call()).status).toBe(200);
  expect(seen.map((s) => s.process).sort()).toEqual(['a', 'a', 'b', 'b']);
});

test('a process that is gone: GETs fail over at once, a POST is not sent again, then no traffic to it', async () => {
  // the round-robin is at process a again after an even number of requests
  await products[0].close();
  seen.length = 0;
  // GIVEN the next pick is the dead process a: a GET is sent on to b, with no 5xx
  const get = await call();
  expect(get.status).toBe(200);
  expect(await get.json()).toEqual({ process: 'b' });
  // WHEN a POST is sent (a is marked down by now, so it goes to b)
  expect((await call('POST')).status).toBe(200);
  // AND many GETs within the cool-down: every one answered by b
  const statuses = [];
  for (let i = 0; i < 10; i++) statuses.push((await call()).status);
  expect(statuses.every((s) => s === 200)).toBe(true);
  expect(seen.every((s) => s.process === 'b')).toBe(true);
});

test('a POST whose process refuses the connection is a 503, never sent to another one', async () => {
  // Both processes gone: a POST gets one 503 and reaches nobody; a GET is a 503 quickly too.
  await products[1].close();
  seen.length = 0;
  const started = Date.now();
  expect((await call('POST')).status).toBe(503);
  expect((await call()).status).toBe(503);
  expect(Date.now() - started).toBeLessThan(2000);
  expect(seen).toHaveLength(0);
});

test('a process that comes back gets traffic again after the cool-down', async () => {
  products[0] = productsProcess('a');
  products[1] = productsProcess('b');
  await products[0].listen({ port: ports[0], host: '127.0.0.1' });
  await products[1].listen({ port: ports[1], host: '127.0.0.1' });
  seen.length = 0;
  const deadline = Date.now() + 5000;
  while (!(seen.some((s) => s.process === 'a') && seen.some((s) => s.process === 'b'))) {
    if (Date.now() > deadline) throw new Error(`not both processes served: ${JSON.stringify(seen)}`);
    expect((await call()).status).toBe(200);
  }
});
