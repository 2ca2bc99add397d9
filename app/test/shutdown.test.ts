import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { Client } from 'pg';
import { appEntryArgs } from '../../tools/local-topology/app-entry';
import { createTestDatabase, TEST_PG_ADMIN_URL, type TestDatabase } from './support/postgres';

const repoRoot = path.resolve(__dirname, '../..');
let database: TestDatabase;
let server: ChildProcess | undefined;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
    probe.on('error', reject);
  });
}

async function connectionsTo(name: string): Promise<number> {
  const client = new Client({ connectionString: TEST_PG_ADMIN_URL });
  await client.connect();
  try {
    const { rows } = await client.query(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1',
      [name],
    );
    return rows[0].n;
  } finally {
    await client.end();
  }
}

/** Spawns `app/src/server.ts` (as app-entry.ts starts it) on the test database and waits until it listens. */
async function startShop(extraEnv: Record<string, string> = {}) {
  const port = await freePort();
  const child = spawn(process.execPath, appEntryArgs('server'), {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: database.url,
      LOG_LEVEL: 'info',
      // Any free port: several servers start at once in the test run.
      METRICS_PORT: '0',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server = child;
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  for (let i = 0; i < 300 && !output.includes('shop listening'); i++)
    await new Promise((r) => setTimeout(r, 100));
  expect(output).toContain('shop listening');
  return { port, child, exited, output: () => output };
}

/** Sends SIGTERM and waits until the server says it is shutting down. */
async function sigterm(shop: Awaited<ReturnType<typeof startShop>>): Promise<void> {
  shop.child.kill('SIGTERM');
  // A loaded machine may take seconds to deliver the signal and schedule the handler: wait on the log line.
  const deadline = Date.now() + 15_000;
  while (!shop.output().includes('shutting down') && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
  expect(shop.output()).toContain('shutting down');
}

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  if (server && server.exitCode === null) server.kill('SIGKILL');
  await database.drop();
});

test('SIGTERM: the in-flight request completes, new connections are refused, pools close, exit code 0', async () => {
  // GIVEN a running server that has opened its pool
  const shop = await startShop();
  const { port } = shop;
  const warm = await fetch(`http://127.0.0.1:${port}/api/products?limit=1`);
  expect(warm.status).toBe(200);
  expect(await connectionsTo(database.name)).toBeGreaterThan(0);

  // AND a slow request in flight: a sign-up whose body is still arriving
  const body = JSON.stringify({ email: 'slow@example.test', password: 'slow password', name: 'Slow' });
  const request = http.request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/api/users',
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
  });
  const response = new Promise<{ status: number; text: string }>((resolve, reject) => {
    request.on('response', (res) => {
      let text = '';
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    request.on('error', reject);
  });
  request.write(body.slice(0, 20));
  await new Promise((r) => setTimeout(r, 300));

  // WHEN the orchestrator sends SIGTERM
  await sigterm(shop);

  // THEN new connections are refused
  await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();

  // AND the in-flight request still completes
  request.end(body.slice(20));
  const done = await response;
  expect(done.status).toBe(201);
  expect(JSON.parse(done.text).user.email).toBe('slow@example.test');

  // AND the process closes its pools and exits 0
  expect(await shop.exited).toBe(0);
  expect(shop.output()).toContain('database pools and cache connections closed');
  expect(shop.output()).toContain('shutdown complete');
  expect(await connectionsTo(database.name)).toBe(0);

  // AND the logs are structured JSON lines with request ids
  const lines = shop
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line));
  const completed = lines.find((line) => line.msg === 'request completed' && line.res?.statusCode === 201);
  expect(completed?.reqId).toMatch(/^[0-9a-f-]{36}$/);
});

test('SIGTERM: a keep-alive connection whose response finishes after shutdown began does not hold the exit', async () => {
  // GIVEN a server whose graceful-shutdown limit is far away (a hang would show as exit code 1 after 30 s)
  const shop = await startShop({ SHUTDOWN_TIMEOUT_MS: '30000' });
  const { port } = shop;

  // AND a keep-alive client (as the ALB is) whose request is in flight when SIGTERM arrives, and which
  // keeps the connection open afterwards without reading the response
  const agent = new http.Agent({ keepAlive: true, keepAliveMsecs: 60_000 });
  const body = JSON.stringify({ email: 'late@example.test', password: 'late password', name: 'Late' });
  const request = http.request({
    agent,
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/api/users',
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
  });
  const status = new Promise<number>((resolve, reject) => {
    request.on('response', (res) => {
      res.pause();
      resolve(res.statusCode ?? 0);
    });
    request.on('error', reject);
  });
  request.write(body.slice(0, 10));
  await new Promise((r) => setTimeout(r, 200));

  // WHEN SIGTERM arrives, and then the request finishes
  await sigterm(shop);
  request.end(body.slice(10));
  expect(await status).toBe(201);

  // THEN the server closes that connection once it is idle and exits 0, not at the shutdown time limit
  const code = await shop.exited;
  agent.destroy();
  expect({ code, timedOut: shop.output().includes('graceful shutdown timed out') }).toEqual({
    code: 0,
    timedOut: false,
  });
});
