// The local API gateway (app/src/gateway) in process, in front of three real HTTP servers standing in for the
// services: routing by the route table, /internal refused, the rate limits, access log lines, a service down.
import { Writable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import { buildGateway, isAuthAttempt, isInternalPath } from '../../src/gateway/gateway';
import { loadGatewayConfig } from '../../src/gateway/gateway-config';
import { BAD_URL, expectFrameworkError } from '../support/framework-errors';

const upstreams: Record<string, FastifyInstance> = {};
const seen: { service: string; url: string; xff?: string }[] = [];
let gateway: FastifyInstance;
let baseUrl: string;
const logLines: Record<string, unknown>[] = [];

beforeAll(async () => {
  const urls: Record<string, string> = {};
  for (const service of ['users', 'products', 'orders']) {
    const upstream = Fastify({ logger: false });
    upstream.all('/*', async (request) => {
      seen.push({ service, url: request.url, xff: request.headers['x-forwarded-for'] as string | undefined });
      return { service, url: request.url };
    });
    urls[`${service.toUpperCase()}_URL`] = await upstream.listen({ port: 0, host: '127.0.0.1' });
    upstreams[service] = upstream;
  }
  const config = loadGatewayConfig({
    ...urls,
    GATEWAY_RATE_LIMIT_MAX: '30',
    GATEWAY_AUTH_RATE_LIMIT_MAX: '2',
    GATEWAY_RATE_LIMIT_WINDOW_MS: '60000',
  });
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line));
      done();
    },
  });
  gateway = await buildGateway({ config, logger: { level: 'info', stream } });
  baseUrl = await gateway.listen({ port: 0, host: '127.0.0.1' });
});

afterAll(async () => {
  await gateway?.close();
  await Promise.all(Object.values(upstreams).map((u) => u.close()));
});

/** A request from its own client address (X-Forwarded-For is ignored by the gateway: it is the edge). */
const get = (path: string, init: RequestInit = {}) => fetch(`${baseUrl}${path}`, init);

test('configuration errors name each variable and the fix', () => {
  expect(() => loadGatewayConfig({ USERS_URL: 'users', PRODUCTS_URL: 'http://p/x' })).toThrow(
    /USERS_URL must be the users service's base URL.*PRODUCTS_URL must be.*ORDERS_URL must be/,
  );
});

test('each path goes to the service the route table names; everything else to products', async () => {
  const cases = [
    ['/api/users', 'users'],
    ['/api/sessions', 'users'],
    ['/api/me', 'users'],
    ['/api/admin/users?q=a', 'users'],
    ['/api/orders/1', 'orders'],
    ['/api/admin/orders?productId=x', 'orders'],
    ['/api/admin/sales', 'orders'],
    ['/api/products?limit=2', 'products'],
    ['/', 'products'],
    ['/app.js', 'products'],
    ['/api/nothing', 'products'],
  ] as const;
  for (const [path, service] of cases) {
    const response = await get(path);
    expect({ path, body: await response.json() }).toEqual({ path, body: { service, url: path } });
  }
  // The services learn the client's address from the one hop they trust
  expect(seen.at(-1)?.xff).toBe('127.0.0.1');
});

test('a body declared bigger than the limit is a 413 at the gateway and never reaches a service', async () => {
  // GIVEN the default limit (the services' BODY_LIMIT_BYTES default, 64 KiB)
  seen.length = 0;
  // WHEN a client posts 200 kB
  const response = await get('/api/orders', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ password: 'x'.repeat(200_000) }),
  });
  // THEN the gateway answers 413 naming the sizes, and no service saw the request
  expect(response.status).toBe(413);
  expect((await response.json()).message).toMatch(/body is \d+ bytes; at most 65536 are accepted/);
  expect(seen).toEqual([]);
  // AND a body within the limit goes through
  const small = await get('/api/orders', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'x'.repeat(1000) }),
  });
  expect((await small.json()).service).toBe('orders');
});

test('the internal API is refused in every spelling and never reaches a service', async () => {
  seen.length = 0;
  for (const path of [
    '/internal/reservations/1',
    '/internal',
    '/%69nternal/reservations/1',
    '/Internal/reservations/1',
    '//internal/reservations/1',
    '/api/../internal/reservations/1',
    '/api/products/%2e%2e/%2e%2e/internal/reservations/1',
  ]) {
    const response = await get(path, { method: 'POST' });
    expect({ path, status: response.status }).toEqual({ path, status: 404 });
  }
  expect(seen).toEqual([]);
  expect(isInternalPath('/api/products/internal')).toBe(false);
});

test('every request leaves one access log line naming the route, the status and the service', async () => {
  logLines.length = 0;
  await get('/api/orders/7?x=1', { headers: { 'x-request-id': 'trace-1' } });
  const access = logLines.filter((line) => line.msg === 'access');
  expect(access).toEqual([
    expect.objectContaining({
      reqId: 'trace-1',
      method: 'GET',
      path: '/api/orders/7',
      status: 200,
      service: 'orders',
      ms: expect.any(Number),
    }),
  ]);
  // and nothing else at info for it (no per-request lines of fastify or the proxy)
  expect(logLines.filter((line) => line.reqId === 'trace-1' && line.msg !== 'access')).toEqual([]);
});

test('a URL fastify cannot decode is a 400 at the gateway with a request id and an access line, and reaches no service', async () => {
  logLines.length = 0;
  const before = seen.length;
  for (const url of ['/%', '/api/orders/%zz']) {
    const response = await gateway.inject({ method: 'GET', url, headers: { 'x-request-id': 'bad-url-1' } });
    expectFrameworkError(response, { ...BAD_URL, requestId: 'bad-url-1' });
  }
  expect(seen.length).toBe(before);
  expect(logLines.filter((line) => line.msg === 'access')).toEqual([
    expect.objectContaining({ reqId: 'bad-url-1', method: 'GET', path: '/%', status: 400 }),
    expect.objectContaining({ reqId: 'bad-url-1', method: 'GET', path: '/api/orders/%zz', status: 400 }),
  ]);
});

test('log-in and sign-up have a stricter limit than the rest, counted apart', async () => {
  // GIVEN a limit of 2 attempts for log-in and sign-up together, and 30 requests for everything else
  const attempts = [];
  for (let i = 0; i < 3; i++) attempts.push((await get('/api/sessions', { method: 'POST' })).status);
  // THEN the third attempt is refused
  expect(attempts).toEqual([200, 200, 429]);
  expect((await get('/api/users', { method: 'POST' })).status).toBe(429);
  // AND browsing is still allowed (a separate counter) until its own, higher limit
  expect((await get('/api/products')).status).toBe(200);
  expect((await get('/api/sessions', { method: 'DELETE' })).status).toBe(200);
});

test('the log-in limit holds for every spelling of the log-in and sign-up paths', async () => {
  // GIVEN a gateway of its own (its own counters), 2 attempts for log-in and sign-up
  const config = loadGatewayConfig({
    USERS_URL: `http://127.0.0.1:${(upstreams.users.server.address() as { port: number }).port}`,
    PRODUCTS_URL: `http://127.0.0.1:${(upstreams.products.server.address() as { port: number }).port}`,
    ORDERS_URL: `http://127.0.0.1:${(upstreams.orders.server.address() as { port: number }).port}`,
    GATEWAY_RATE_LIMIT_MAX: '30',
    GATEWAY_AUTH_RATE_LIMIT_MAX: '2',
    GATEWAY_RATE_LIMIT_WINDOW_MS: '60000',
  });
  const own = await buildGateway({ config, logger: false });
  try {
    const url = await own.listen({ port: 0, host: '127.0.0.1' });
    const post = async (path: string) => (await fetch(`${url}${path}`, { method: 'POST' })).status;
    // WHEN log-in is tried in spellings the users service routes to /api/sessions
    const statuses = [];
    for (const path of ['/api/session%73', '/api//sessions/', '/api/./sessions?x=1', '/API/Sessions'])
      statuses.push(await post(path));
    // THEN they share the strict counter: past 2, refused
    expect(statuses).toEqual([200, 200, 429, 429]);
    expect(await post('/api/user%73')).toBe(429);
    // AND other routes keep their own counter
    expect(await post('/api/orders')).toBe(200);
  } finally {
    await own.close();
  }
  expect(isAuthAttempt('POST', '/api/sessions/x')).toBe(false);
  expect(isAuthAttempt('DELETE', '/api/session%73')).toBe(false);
});

test('a service that is down is a 503 with Retry-After at once, not a hang', async () => {
  await upstreams.orders.close();
  const started = Date.now();
  const response = await fetch(`${baseUrl}/api/admin/sales`, { headers: {} });
  expect(response.status).toBe(503);
  expect(response.headers.get('retry-after')).toBe('5');
  expect(Date.now() - started).toBeLessThan(2000);
});

test('every route has a limit too: past it, a 429 that never reaches a service', async () => {
  seen.length = 0;
  const statuses: number[] = [];
  for (let i = 0; i < 31; i++) statuses.push((await get('/api/products')).status);
  // (the earlier tests used part of this client's 30 requests)
  expect(statuses.at(-1)).toBe(429);
  const refused = statuses.filter((status) => status === 429).length;
  expect(seen).toHaveLength(statuses.length - refused);
});
