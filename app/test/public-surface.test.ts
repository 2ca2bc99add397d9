import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app';
import { testConfig } from './support/app';
import { BAD_URL, expectFrameworkError } from './support/framework-errors';
import { createTestDatabase, type TestDatabase } from './support/postgres';
import { createTestRedisPrefix, TEST_REDIS_URL, type TestRedisPrefix } from './support/redis';
import { appEntryArgs } from '../../tools/local-topology/app-entry';
import { findFreePort } from '../../tools/local-topology/postgres-replication';

// What the public port shows: no metrics in any spelling (they have a port of their own), the security
// headers of a storefront, and only a bounded, clean request id.
const repoRoot = path.resolve(__dirname, '../..');
let database: TestDatabase;
let redis: TestRedisPrefix;
const apps: FastifyInstance[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  redis = createTestRedisPrefix();
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  for (const app of apps) await app.close();
  await redis.cleanup();
  await database.drop();
});

/** Spawns `app/src/server.ts` (as app-entry.ts starts it) with exactly `env` (plus PATH) and waits for it to listen. */
async function startServer(env: Record<string, string>) {
  const child = spawn(process.execPath, appEntryArgs('server'), {
    cwd: repoRoot,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  for (let i = 0; i < 600 && !output.includes('shop listening') && child.exitCode === null; i++)
    await new Promise((resolve) => setTimeout(resolve, 100));
  if (!output.includes('shop listening')) throw new Error(`server did not start:\n${output}`);
  const listening = JSON.parse(output.split('\n').find((line) => line.includes('shop listening'))!);
  return {
    child,
    output: () => output,
    port: listening.port as number,
    metricsPort: listening.metricsPort as number,
  };
}

/** Sends a raw request line (so the path reaches the server exactly as written) and returns status and body. */
function rawGet(port: number, target: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () =>
      socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`),
    );
    let data = '';
    socket.on('data', (chunk) => (data += chunk));
    socket.on('end', () => {
      const status = Number(data.split(' ')[1]);
      resolve({ status, body: data.slice(data.indexOf('\r\n\r\n') + 4) });
    });
    socket.on('error', reject);
  });
}

describe('a spawned server: metrics on their own port, empty variables are unset', () => {
  let server: Awaited<ReturnType<typeof startServer>>;

  beforeAll(async () => {
    const [port, metricsPort] = [await findFreePort(), await findFreePort()];
    server = await startServer({
      PORT: String(port),
      HOST: '127.0.0.1',
      METRICS_PORT: String(metricsPort),
      DATABASE_URL: database.url,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: redis.prefix,
      SESSION_SECRET: 'a-session-secret-of-at-least-32-characters',
      // Empty means unset, as documented: none of these may stop the server or override a default.
      REDIS_HOST: '',
      CACHE_TTL_SECONDS: '',
      DB_POOL_MAX: '',
      ADMIN_EMAILS: '',
    });
    expect([server.port, server.metricsPort]).toEqual([port, metricsPort]);
  }, 120_000);

  afterAll(() => server?.child.kill('SIGTERM'));

  const spellings = [
    '/metrics',
    '/%6detrics',
    '/%6Detrics',
    '/%6d%65%74%72%69%63%73',
    '/METRICS',
    '/Metrics',
    '/metrics/',
    '//metrics',
    '/./metrics',
    '/api/../metrics',
    '/metrics?x=1',
    '/metrics%3Fx',
    '/metrics;x',
    '/metrics%00',
    '/%2fmetrics',
    '/metrics.txt',
    'http://127.0.0.1/metrics',
  ];
  test.each(spellings)('the public port answers 404 for %s', async (target) => {
    const response = await rawGet(server.port, target);
    expect([400, 404]).toContain(response.status);
    expect(response.body).not.toContain('db_queries_total');
    expect(response.body).not.toContain('process_cpu');
  });

  test('the metrics port serves Prometheus text, and nothing else', async () => {
    const metrics = await rawGet(server.metricsPort, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('db_queries_total{pool="writer"}');
    expect(metrics.body).toContain('http_request_duration_seconds_bucket');
    for (const other of ['/', '/healthz', '/api/products'])
      expect((await rawGet(server.metricsPort, other)).status).toBe(404);
    // The public port still serves the shop and its health checks.
    expect((await rawGet(server.port, '/healthz')).status).toBe(200);
    expect((await rawGet(server.port, '/api/products?limit=1')).status).toBe(200);
  });

  test('an empty PORT and REDIS_URL in a real environment are unset: the defaults apply instead of a start-up failure', async () => {
    // The configuration as the server process reads it, from its own environment (binding port 3000 here
    // could collide with anything else on the machine).
    const script =
      "const { loadConfig } = require('./app/src/config'); const c = loadConfig(); console.log(JSON.stringify({ port: c.port, redis: c.redis ?? null, cache: c.cacheStore }))";
    const result = spawnSync(path.join(repoRoot, 'node_modules/.bin/tsx'), ['-e', script], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH, PORT: '', REDIS_URL: '', REDIS_HOST: '', LOG_LEVEL: '' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual({ port: 3000, redis: null, cache: 'memory' });
    // And a whole server started with an empty REDIS_URL runs on the in-process adapters.
    const [port, metricsPort] = [await findFreePort(), await findFreePort()];
    const withEmpty = await startServer({
      PORT: String(port),
      REDIS_URL: '',
      HOST: '127.0.0.1',
      METRICS_PORT: String(metricsPort),
      DATABASE_URL: database.url,
      LOG_LEVEL: '',
    });
    try {
      expect(withEmpty.output()).toContain('"cache":"memory"');
      expect((await rawGet(port, '/healthz')).status).toBe(200);
    } finally {
      withEmpty.child.kill('SIGTERM');
    }
  }, 120_000);
});

describe('security headers and the request id', () => {
  let app: FastifyInstance;
  let production: FastifyInstance;
  const logLines: string[] = [];

  beforeAll(async () => {
    const stream = new Writable({
      write(chunk, _encoding, done) {
        logLines.push(String(chunk));
        done();
      },
    });
    app = await buildApp({
      config: testConfig({ DATABASE_URL: database.url }),
      logger: { level: 'info', stream },
    });
    production = await buildApp({
      config: testConfig({
        DATABASE_URL: database.url,
        NODE_ENV: 'production',
        SESSION_SECRET: 'a-session-secret-of-at-least-32-characters',
      }),
      logger: false,
    });
    apps.push(app, production);
  });

  test('the storefront and the API send CSP (the page policy plus frame-ancestors), nosniff, a referrer policy, no framing', async () => {
    for (const url of ['/', '/api/products?limit=1', '/api/nothing']) {
      const { headers } = await app.inject({ method: 'GET', url });
      expect(headers['content-security-policy']).toBe(
        "default-src 'none';script-src 'self';style-src 'self';img-src 'self' data:;connect-src 'self';base-uri 'none';form-action 'none';frame-ancestors 'none'",
      );
      expect(headers['x-content-type-options']).toBe('nosniff');
      expect(headers['referrer-policy']).toBe('strict-origin-when-cross-origin');
      expect(headers['x-frame-options']).toBe('DENY');
      expect(headers['strict-transport-security']).toBeUndefined();
    }
  });

  test.each([
    ['a URL fastify cannot decode', '/%', BAD_URL],
    ['a URL fastify cannot decode, on a route', '/api/products/%zz', BAD_URL],
  ])(
    '%s (answered before routing, where no hook runs) has the security headers and the request id',
    async (_what, url, expected) => {
      const routed = await production.inject({ method: 'GET', url: '/api/nothing' });
      const response = await production.inject({
        method: 'GET',
        url,
        headers: { 'x-request-id': 'early-1' },
      });
      expectFrameworkError(response, { ...expected, requestId: 'early-1' });
      const securityHeaders = Object.keys(routed.headers).filter(
        (h) => !/^(content-|date|connection|x-request-id)/.test(h),
      );
      expect(securityHeaders).toContain('strict-transport-security');
      for (const name of securityHeaders)
        expect([name, response.headers[name]]).toEqual([name, routed.headers[name]]);
    },
  );

  test('the page policy in index.html is the one the header sends (less what only a header can say)', async () => {
    const html = (await app.inject({ method: 'GET', url: '/' })).body;
    const meta = html.match(/http-equiv="Content-Security-Policy"\s+content="([^"]+)"/)![1];
    const header = String((await app.inject({ method: 'GET', url: '/' })).headers['content-security-policy']);
    expect(meta.split('; ')).toEqual(header.split(';').filter((d) => !d.startsWith('frame-ancestors')));
  });

  test('production adds HSTS', async () => {
    const { headers } = await production.inject({ method: 'GET', url: '/healthz' });
    expect(headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
  });

  test.each([
    ['too long', 'a'.repeat(65)],
    ['a log-line break', 'abc\u2028{"level":60}'],
    ['spaces and quotes', 'id "with" spaces'],
    ['HTML', '<script>alert(1)</script>'],
    ['empty', ''],
  ])(
    'a client X-Request-Id with %s is replaced by a fresh id, never echoed or logged',
    async (_what, given) => {
      logLines.length = 0;
      const response = await app.inject({
        method: 'GET',
        url: '/healthz',
        headers: { 'x-request-id': given },
      });
      const id = String(response.headers['x-request-id']);
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      if (given) expect(logLines.join('')).not.toContain(given);
    },
  );

  test('a clean client X-Request-Id up to 64 characters is kept', async () => {
    const given = 'Root=1-67891233-abcdef012345678912345678'.replace('=', '.');
    const response = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': given } });
    expect(response.headers['x-request-id']).toBe(given);
  });
});
