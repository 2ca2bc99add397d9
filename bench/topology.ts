/**
 * The local topologies of the stages: scratch databases, seeding through the app's own seed module,
 * app processes (the esbuild bundle or the sources), the monolith next to a running local topology, the
 * balancer, and the sessions the workload uses.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import Redis from 'ioredis';
import { Client } from 'pg';
import { changeAdminRole } from '../app/src/admin';
import { loadConfig } from '../app/src/config';
import { createDatabase } from '../app/src/db/create-database';
import { runMigrations } from '../app/src/db/migrations';
import { seedCatalog, seedUsers } from '../app/src/db/seed';
import { findFreePort } from '../tools/local-topology/postgres-replication';
import type { CleanupStack } from './cleanup';
import { startProcess, type ManagedProcess } from './processes';

/** How app processes are started: the bundle (preferred) or the TypeScript sources under tsx. */
export interface AppLauncher {
  readonly command: string;
  readonly args: readonly string[];
  readonly description: string;
}

/** Picks the bundle (app/dist/server.js) when it exists, else app/src/server.ts under tsx. */
export function appLauncher(repoRoot: string): AppLauncher {
  const bundle = path.join(repoRoot, 'app', 'dist', 'server.js');
  if (existsSync(bundle)) {
    return {
      command: process.execPath,
      args: [bundle],
      description: 'esbuild bundle (node app/dist/server.js)',
    };
  }
  return sourcesLauncher(repoRoot);
}

/** app/src/server.ts under tsx, for the benches whose routes a stale bundle in app/dist could lack. */
export function sourcesLauncher(repoRoot: string): AppLauncher {
  return {
    command: process.execPath,
    args: ['--import', 'tsx', path.join(repoRoot, 'app', 'src', 'server.ts')],
    description: 'TypeScript sources under tsx (app/src/server.ts)',
  };
}

/** Headers every benchmark request carries: what the ALB adds in AWS (the app trusts one proxy hop). */
export const EDGE_HEADERS: Readonly<Record<string, string>> = { 'x-forwarded-proto': 'https' };

/** `postgres://.../<name>` for a database on the same server as `serverUrl`. */
export function databaseUrl(serverUrl: string, name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** A random, valid database name with the given prefix. */
export function scratchName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

/** Creates a database and returns its URL. */
export async function createScratchDatabase(serverUrl: string, name: string): Promise<string> {
  const client = new Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  return databaseUrl(serverUrl, name);
}

/**
 * Creates the database `name` on each of `serverUrls` and defers its drop (`WITH (FORCE)`: an app process may
 * still hold connections) on `cleanup`. Returns the databases' URLs in the order of the servers.
 */
export async function createScratchDatabases(
  serverUrls: readonly string[],
  name: string,
  cleanup: CleanupStack,
): Promise<string[]> {
  const urls: string[] = [];
  for (const serverUrl of serverUrls) {
    urls.push(await createScratchDatabase(serverUrl, name));
    cleanup.defer(`drop ${name}`, async () => {
      const client = new Client({ connectionString: serverUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).finally(() => client.end());
    });
  }
  return urls;
}

/** What was seeded (ids and emails come back from the app's seed functions). */
export interface SeededData {
  readonly productIds: readonly string[];
  readonly customerEmails: readonly string[];
  readonly orders: number;
}

/** The password every seeded customer has (the benchmark logs some of them in). */
export const SEED_PASSWORD = 'bench-password-1';

/**
 * Migrates and seeds a database with the app's own modules (app/src/db): the same rows for every
 * topology, inserted set-based.
 */
export async function migrateAndSeed(
  url: string,
  counts: { readonly products: number; readonly users: number; readonly ordersPerUser: number },
  passwordHash: string,
): Promise<SeededData> {
  const db = await createDatabase({ kind: 'postgres', writer: { connectionString: url }, poolMax: 2 });
  try {
    await runMigrations(db);
    const catalog = await seedCatalog(db, counts.products);
    const users = await seedUsers(db, counts.users, { ordersPerUser: counts.ordersPerUser, passwordHash });
    // Fresh statistics, as autovacuum would have after a while in a real database.
    await db.query('ANALYZE');
    return { productIds: catalog.ids, customerEmails: users.emails, orders: users.orderCount };
  } finally {
    await db.close();
  }
}

/** A started app process: `url` is its main (load-balanced) port, `metricsUrl` its own metrics listener. */
export interface AppProcess extends ManagedProcess {
  /** Base URL of the process's metrics listener (METRICS_PORT), where GET /metrics is served. */
  readonly metricsUrl: string;
}

/**
 * Starts one app process on a free port, with its metrics listener on another free port (the app's default,
 * 9464, would collide between the processes of one machine; the main port answers 404 for /metrics), and
 * waits for /readyz. The app binds its metrics listener before the main port, so ready means both are up.
 */
export async function startAppProcess(
  launcher: AppLauncher,
  name: string,
  env: Readonly<Record<string, string>>,
  repoRoot: string,
): Promise<AppProcess> {
  const port = await findFreePort();
  let metricsPort = await findFreePort();
  while (metricsPort === port) metricsPort = await findFreePort();
  const managed = await startProcess({
    name,
    command: launcher.command,
    args: launcher.args,
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...env,
      PORT: String(port),
      HOST: '127.0.0.1',
      METRICS_PORT: String(metricsPort),
      METRICS_HOST: '127.0.0.1',
    },
    url: `http://127.0.0.1:${port}`,
    readyPath: '/readyz',
  });
  return { ...managed, metricsUrl: `http://127.0.0.1:${metricsPort}` };
}

/** Options of {@link startMonolithProcess}. */
export interface MonolithProcessOptions {
  /** The process's name in error messages. */
  readonly name: string;
  /**
   * The app's environment beyond what the monolith sets itself: databases, Redis, session secret (those of the
   * running topology, whose migrations and seed the monolith reuses). It may override LOG_LEVEL, not the rest.
   */
  readonly env: Readonly<Record<string, string>>;
  readonly logLevel: string;
  /** How long to wait for /readyz. */
  readonly readyTimeoutMs: number;
}

/**
 * Starts the whole app in one process (SERVICE=all, the sources under tsx, NODE_ENV=development) on free ports,
 * next to a local topology (tools/local-topology) on its databases, and waits until /readyz answers. It neither
 * migrates nor seeds: the topology has.
 */
export async function startMonolithProcess(
  repoRoot: string,
  options: MonolithProcessOptions,
): Promise<ManagedProcess> {
  const launcher = sourcesLauncher(repoRoot);
  const port = await findFreePort();
  return startProcess({
    name: options.name,
    command: launcher.command,
    args: launcher.args,
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'development',
      LOG_LEVEL: options.logLevel,
      HOST: '127.0.0.1',
      ...options.env,
      AUTO_MIGRATE: 'false',
      SEED_DEMO_DATA: 'false',
      SERVICE: 'all',
      PORT: String(port),
      METRICS_PORT: String(await findFreePort()),
    },
    url: `http://127.0.0.1:${port}`,
    readyPath: '/readyz',
    readyTimeoutMs: options.readyTimeoutMs,
  });
}

/** Starts the round-robin balancer (bench/balancer.ts) as its own process in front of `backends`. */
export async function startBalancerProcess(
  backends: readonly string[],
  repoRoot: string,
): Promise<ManagedProcess> {
  const port = await findFreePort();
  return startProcess({
    name: 'balancer',
    command: process.execPath,
    args: ['--import', 'tsx', path.join(repoRoot, 'bench', 'balancer.ts')],
    cwd: repoRoot,
    env: { PATH: process.env.PATH, PORT: String(port), BACKENDS: backends.join(',') },
    url: `http://127.0.0.1:${port}`,
    readyPath: '/healthz',
  });
}

/**
 * The Node.js the image ships (the `node` package's binary, the current LTS; app/Dockerfile's base image) when
 * installed, else the Node.js running this script.
 */
export function shippedNode(repoRoot: string): string {
  const binary = path.join(repoRoot, 'node_modules', 'node', 'bin', 'node');
  return existsSync(binary) ? binary : process.execPath;
}

/** Starts the bare fastify baseline (bench/baseline-server.ts) as its own process, on `node` (default: this one). */
export async function startBaselineProcess(
  repoRoot: string,
  node: string = process.execPath,
): Promise<ManagedProcess> {
  const port = await findFreePort();
  return startProcess({
    name: 'bare fastify',
    command: node,
    args: ['--import', 'tsx', path.join(repoRoot, 'bench', 'baseline-server.ts')],
    cwd: repoRoot,
    env: { PATH: process.env.PATH, PORT: String(port), NODE_ENV: 'production' },
    url: `http://127.0.0.1:${port}`,
    readyPath: '/healthz',
  });
}

async function request(
  baseUrl: string,
  method: string,
  urlPath: string,
  body?: unknown,
  cookie?: string,
): Promise<{ status: number; json: unknown; setCookie: string[] }> {
  const response = await fetch(new URL(urlPath, baseUrl), {
    method,
    headers: {
      ...EDGE_HEADERS,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(cookie ? { cookie } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON: keep the text for the error message
  }
  return { status: response.status, json, setCookie: response.headers.getSetCookie() };
}

/** Extracts `sid=<value>` from Set-Cookie headers; throws when there is none. */
export function sessionCookie(setCookie: readonly string[], context: string): string {
  const sid = setCookie.map((c) => c.split(';')[0]).find((c) => c.startsWith('sid='));
  if (!sid)
    throw new Error(
      `${context}: no "sid" cookie in the response (Set-Cookie: ${setCookie.join(' | ') || 'none'})`,
    );
  return sid;
}

/** Logs a user in and returns the `Cookie` header value of the session. */
export async function logIn(baseUrl: string, email: string, password: string): Promise<string> {
  const answer = await request(baseUrl, 'POST', '/api/sessions', { email, password });
  if (answer.status !== 200) {
    throw new Error(`log-in of ${email} answered ${answer.status}: ${JSON.stringify(answer.json)}`);
  }
  return sessionCookie(answer.setCookie, `log-in of ${email}`);
}

/** Logs many users in with bounded concurrency (each log-in costs a scrypt hash on the server). */
export async function logInMany(
  baseUrl: string,
  emails: readonly string[],
  password: string,
  concurrency = 4,
): Promise<string[]> {
  const cookies: string[] = new Array(emails.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, emails.length) }, async () => {
      while (next < emails.length) {
        const i = next++;
        cookies[i] = await logIn(baseUrl, emails[i], password);
      }
    }),
  );
  return cookies;
}

/**
 * Grants the admin role the supported way: the admin command's own {@link changeAdminRole}, with the
 * configuration the app processes run with (same database, same Redis cache and key prefix, so a cached role
 * is invalidated). A grant makes an admin only while the email is also in the processes' ADMIN_EMAILS.
 * @throws Error when the email is not in `appEnv.ADMIN_EMAILS` or has no user yet
 */
export async function grantAdmin(appEnv: Readonly<Record<string, string>>, email: string): Promise<void> {
  const config = loadConfig({ ...appEnv }, { requireSessionSecret: false });
  const db = await createDatabase(config.database, undefined, 'bench-admin-grant');
  try {
    const change = await changeAdminRole(db.writer, config, 'grant', email);
    if (!change.listed)
      throw new Error(`${email} is not in the app's ADMIN_EMAILS: the grant would not make an admin`);
  } finally {
    await db.close();
  }
}

/**
 * Makes the benchmark's admin: signs up (a new user is always a customer), grants the role with
 * {@link grantAdmin} against the app processes' database, then logs in and checks the effective role.
 * Returns the session cookie.
 */
export async function signUpAdmin(
  baseUrl: string,
  email: string,
  password: string,
  appEnv: Readonly<Record<string, string>>,
): Promise<string> {
  const answer = await request(baseUrl, 'POST', '/api/users', { email, password, name: 'Benchmark admin' });
  if (answer.status !== 201) {
    throw new Error(`admin sign-up answered ${answer.status}: ${JSON.stringify(answer.json)}`);
  }
  await grantAdmin(appEnv, email);
  const login = await request(baseUrl, 'POST', '/api/sessions', { email, password });
  if (login.status !== 200) {
    throw new Error(`log-in of the admin ${email} answered ${login.status}: ${JSON.stringify(login.json)}`);
  }
  const role = (login.json as { user?: { role?: string } }).user?.role;
  if (role !== 'admin')
    throw new Error(
      `the admin ${email} logged in with role "${role}" after the grant (is the email in ADMIN_EMAILS?)`,
    );
  return sessionCookie(login.setCookie, `log-in of the admin ${email}`);
}

/** Walks the first `pages` catalog pages and returns their cursors (`null` for page 1). */
export async function catalogCursors(
  baseUrl: string,
  pages: number,
  pageSize: number,
): Promise<(string | null)[]> {
  const cursors: (string | null)[] = [null];
  while (cursors.length < pages) {
    const cursor = cursors[cursors.length - 1];
    const query = `?limit=${pageSize}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
    const answer = await request(baseUrl, 'GET', `/api/products${query}`);
    if (answer.status !== 200) throw new Error(`GET /api/products${query} answered ${answer.status}`);
    const nextCursor = (answer.json as { nextCursor?: string | null }).nextCursor;
    if (!nextCursor) break;
    cursors.push(nextCursor);
  }
  return cursors;
}

/** Deletes every Redis key under `prefix` (SCAN, never KEYS). */
export async function deleteRedisKeys(redisUrl: string, prefix: string): Promise<number> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    let deleted = 0;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) deleted += await redis.unlink(...keys);
    } while (cursor !== '0');
    return deleted;
  } finally {
    redis.disconnect();
  }
}

/** Requests every product once (16 at a time), so a cached-read measurement starts with a warm cache. */
export async function preloadProducts(url: string, ids: readonly string[]): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < ids.length) {
        const id = ids[next++];
        const response = await fetch(new URL(`/api/products/${encodeURIComponent(id)}`, url), {
          headers: EDGE_HEADERS,
        });
        if (response.status !== 200)
          throw new Error(`preload: GET /api/products/${id} answered ${response.status}`);
        await response.arrayBuffer();
      }
    }),
  );
}
