// The local API gateway (app/src/gateway) with two processes of the products service (real HTTP servers): round-
// robin, a process that is gone gets no traffic for the cool-down, a GET fails over to the next process at once,
// a process that comes back gets traffic again, and a POST is never sent twice.
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
  await Promise.all([...products, ...others].map((app) => app.close().catch(() => undefined)));
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

test('a process that is gone: a GET fails over at once, then it gets no traffic within the cool-down', async () => {
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

test('a process that comes back gets traffic again after the cool-down', async () => {
  products[0] = productsProcess('a');
  await products[0].listen({ port: ports[0], host: '127.0.0.1' });
  seen.length = 0;
  const deadline = Date.now() + 5000;
  while (!seen.some((s) => s.process === 'a')) {
    if (Date.now() > deadline) throw new Error(`process a got no traffic again: ${JSON.stringify(seen)}`);
    expect((await call()).status).toBe(200);
  }
});

test('a POST whose process refuses the connection is a 503, never sent to another one', async () => {
  await products[0].close();
  seen.length = 0;
  // two POSTs in a row: the round-robin picks each process once, so one of them goes to the dead process a
  const statuses = [(await call('POST')).status, (await call('POST')).status];
  expect(statuses.filter((s) => s === 503)).toHaveLength(1);
  expect(statuses.filter((s) => s === 200)).toHaveLength(1);
  // the refused one was not sent on: b saw exactly the one that succeeded
  expect(seen.filter((s) => s.method === 'POST')).toEqual([{ process: 'b', method: 'POST' }]);
});

test('every process gone: a 503 at once for GET and POST, no hang', async () => {
  await products[1].close();
  seen.length = 0;
  const started = Date.now();
  expect((await call('POST')).status).toBe(503);
  const get = await call();
  expect(get.status).toBe(503);
  expect(get.headers.get('retry-after')).toBe('5');
  expect(Date.now() - started).toBeLessThan(2000);
  expect(seen).toHaveLength(0);
});
