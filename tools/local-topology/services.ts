/**
 * The local topology of stage 1m (and, on the same data, stage 100k's monolith): 2 private PostgreSQL shards
 * (postgres-shards.ts), the system Redis under a key prefix of its own, the migration task once, then the
 * products, users and orders services (one codebase, `SERVICE=`) and the local API gateway in front, each a real
 * process. `npm run local -- --stage 1m` runs it (cli.ts); the failure tests drive it through {@link LocalTopology}.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import Redis from 'ioredis';
import { appEntryArgs } from './app-entry';
import { findFreePort } from './postgres-replication';
import { startShardedPostgres, type ShardedPostgres } from './postgres-shards';
import { startRoundRobin, type RoundRobin } from './round-robin';

const repoRoot = path.resolve(__dirname, '../..');
// The app's entry points (app-entry.ts: the run's bundle in a test run, else the sources under tsx).
const SERVER = 'server';
const GATEWAY = 'gateway';

/** The stages this topology runs. */
export type LocalStage = '1m' | '100k';

/**
 * A process of the topology: a service, the monolith or the gateway. With `productsReplicas` > 1 the products
 * processes are `products`, `products-2`, `products-3`, ...
 */
export type ProcessName = 'products' | `products-${number}` | 'users' | 'orders' | 'gateway' | 'monolith';

/** Options of {@link startLocalTopology}. */
export interface LocalTopologyOptions {
  /** `1m`: gateway + three services; `100k`: the monolith on the same data layout. @default '1m' */
  readonly stage?: LocalStage;
  /** Seed the demo catalog (the CLI does; tests create their own). @default false */
  readonly seedDemoData?: boolean;
  /** More environment for every app process (e.g. ADMIN_EMAILS, PRODUCTS_TIMEOUT_MS). */
  readonly env?: Readonly<Record<string, string>>;
  /** More environment for the gateway (e.g. GATEWAY_AUTH_RATE_LIMIT_MAX). */
  readonly gatewayEnv?: Readonly<Record<string, string>>;
  /** Where process output goes: every line with its process name. @default - kept in memory only */
  readonly onOutput?: (name: ProcessName, line: string) => void;
  /** Redis of the topology. @default - REDIS_URL, else redis://127.0.0.1:6379 */
  readonly redisUrl?: string;
  /** The gateway's port (the URL printed). @default - a free port */
  readonly gatewayPort?: number;
  /**
   * Products processes (stage 1m; AWS runs at least 2 tasks). The gateway balances across them (round-robin,
   * failover for GETs) and the orders service reaches them through a local TCP round-robin (Service Connect's
   * part in AWS). @default 1
   */
  readonly productsReplicas?: number;
  /**
   * The app's database environment (DATABASE_URL, DATABASE_READER_URL, SHARD_ENDPOINTS) on servers the caller
   * runs: the topology then starts no Postgres, runs no migration and stops no database (stage global's secondary
   * regions read their region's replicas, tools/local-topology/global.ts). @default - 2 private shards, started,
   * migrated and stopped with the topology
   */
  readonly databaseEnv?: Readonly<Record<string, string>>;
  /**
   * More `postgresql.conf` settings for the servers the topology starts (none with `databaseEnv`), e.g.
   * {@link THROWAWAY_POSTGRES_SETTINGS}. @default - PostgreSQL's defaults (durable commits), and max_connections 300
   */
  readonly postgresSettings?: Readonly<Record<string, string>>;
}

/**
 * Settings for servers whose data nobody keeps (tests, a demo): no fsync and no full-page images in the WAL. A crash
 * of PostgreSQL itself still loses nothing (the data is in the OS page cache); only an OS crash could, and the
 * topology deletes its data on stop anyway. Measured on 2 busy cores: the migration of the sharded layout 49 s ->
 * 11 s (CPU -35 %), a standby's clone 20 s -> 10 s (CPU -50 %): fewer WAL bytes to write, stream and replay, no
 * waits on fsync. Not for benchmarks that compare write latency with durable servers.
 */
export const THROWAWAY_POSTGRES_SETTINGS: Readonly<Record<string, string>> = {
  fsync: 'off',
  full_page_writes: 'off',
};

/** One running process. */
export interface LocalProcess {
  readonly name: ProcessName;
  /** Base URL of its HTTP port. */
  readonly url: string;
  /** Its metrics port (app processes), for tests that read the services' counters. */
  readonly metricsUrl?: string;
  /** The internal API's port (the products service only): what the orders service calls. */
  readonly internalUrl?: string;
  /** Its process id (while running). */
  readonly pid?: number;
}

/** A running local topology. */
export interface LocalTopology {
  readonly stage: LocalStage;
  /** The URL a browser opens: the gateway (1m) or the monolith (100k). */
  readonly url: string;
  /** The app processes and the gateway, by name. */
  readonly processes: ReadonlyMap<ProcessName, LocalProcess>;
  /** The app environment every process shares (databases, Redis, key prefix, session secret). */
  readonly env: Readonly<Record<string, string>>;
  /** Kills one process (SIGKILL by default: a crash) and waits until it has exited. */
  kill(name: ProcessName, signal?: NodeJS.Signals): Promise<void>;
  /** Sends a signal and returns at once (SIGSTOP/SIGCONT: a process that hangs, then resumes). */
  signal(name: ProcessName, signal: NodeJS.Signals): void;
  /** Starts a stopped process again on its port and waits until it is ready. */
  restart(name: ProcessName): Promise<void>;
  /**
   * Rolls every app process onto a changed environment, as a deploy of new task definitions does, in deploy order
   * (products, then users and orders together): each stopped (SIGTERM) and started again on its ports with `env`
   * over its environment; a process found dead is started as well. The gateway keeps its environment; it is
   * started again only if it is down.
   */
  redeploy(env: Readonly<Record<string, string>>): Promise<void>;
  /**
   * Stops the PostgreSQL servers the topology started and removes their data (a region losing its databases);
   * nothing when the caller runs them (`databaseEnv`). {@link stop} still stops the rest.
   */
  stopDatabases(): Promise<void>;
  /** Stops every process, the Postgres servers, and deletes the topology's Redis keys. Idempotent. */
  stop(): Promise<void>;
}

interface Running {
  child?: ChildProcess;
  exited?: Promise<void>;
  output: string[];
  port: number;
  metricsPort?: number;
  internalPort?: number;
  env: Record<string, string>;
  entry: typeof SERVER | typeof GATEWAY;
}

/** Waits until `url` answers 200, failing early with the process's output when it exits first. */
async function waitReady(url: string, running: Running, name: string, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void running.exited?.then(() => (exited = true));
  for (;;) {
    if (exited) throw new Error(`${name} exited while starting:\n${running.output.slice(-30).join('\n')}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(
        `${name} not ready at ${url} after ${timeoutMs} ms:\n${running.output.slice(-30).join('\n')}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function spawnProcess(
  name: ProcessName,
  running: Running,
  onOutput?: LocalTopologyOptions['onOutput'],
): void {
  const child = spawn(process.execPath, appEntryArgs(running.entry), {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', ...running.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line === '') continue;
      running.output.push(line);
      if (running.output.length > 200) running.output.shift();
      onOutput?.(name, line);
    }
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  running.child = child;
  running.exited = new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Runs the migration task once (as the deploy does before the services start); rejects with its output. */
async function migrate(env: Record<string, string>): Promise<void> {
  const output: string[] = [];
  const child = spawn(process.execPath, appEntryArgs('migrate'), {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (c: Buffer) => output.push(c.toString()));
  child.stderr.on('data', (c: Buffer) => output.push(c.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`migration failed (exit ${code}):\n${output.join('')}`);
}

/** Deletes every key under `prefix` (SCAN + DEL, never FLUSHDB: the Redis is shared). */
async function deleteKeys(redisUrl: string, prefix: string): Promise<void> {
  const client = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  // A Redis already stopped (a failed-over region's) rejects the scan, which the caller ignores; no error event.
  client.on('error', () => {});
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await client.del(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}

/** Starts the topology; on any failure it cleans up what it started and rethrows. */
export async function startLocalTopology(options: LocalTopologyOptions = {}): Promise<LocalTopology> {
  const stage = options.stage ?? '1m';
  const productsReplicas = options.productsReplicas ?? 1;
  if (!Number.isInteger(productsReplicas) || productsReplicas < 1 || productsReplicas > 8)
    throw new Error(`productsReplicas must be an integer from 1 to 8 (got ${productsReplicas})`);
  if (productsReplicas > 1 && stage !== '1m')
    throw new Error(`productsReplicas applies to stage 1m only (got stage ${stage}); leave it at 1`);
  const redisUrl = options.redisUrl ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const keyPrefix = `local-${stage}-${randomBytes(4).toString('hex')}:`;
  const running = new Map<ProcessName, Running>();
  let postgres: ShardedPostgres | undefined;
  let productsBalancer: RoundRobin | undefined;
  let stopped = false;
  let env: Record<string, string> = {};

  const killAllSync = () => {
    for (const r of running.values()) if (r.child?.exitCode === null) r.child.kill('SIGKILL');
  };
  process.once('exit', killAllSync);

  const stopProcess = async (r: Running) => {
    if (!r.child || r.child.exitCode !== null || r.child.signalCode !== null) return;
    r.child.kill('SIGTERM');
    const timer = setTimeout(() => r.child?.kill('SIGKILL'), 5_000);
    await r.exited;
    clearTimeout(timer);
  };
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    // The gateway first (no new requests), then the services together (a Ctrl-C in a terminal has already sent
    // them SIGINT, and the Postgres servers stop at once on it: no time to lose in an orderly queue).
    const gateway = running.get('gateway');
    if (gateway) await stopProcess(gateway);
    await productsBalancer?.close();
    await Promise.all([...running.values()].filter((r) => r !== gateway).map(stopProcess));
    process.removeListener('exit', killAllSync);
    await postgres?.stop();
    await deleteKeys(redisUrl, env.REDIS_KEY_PREFIX ?? keyPrefix).catch(() => {});
  };

  try {
    if (!options.databaseEnv)
      postgres = await startShardedPostgres({
        shards: 2,
        settings: { max_connections: '300', ...options.postgresSettings },
      });
    const databaseEnv = options.databaseEnv ?? postgres!.env('postgres');
    env = {
      NODE_ENV: 'development',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      ...databaseEnv,
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: keyPrefix,
      SESSION_SECRET: randomBytes(32).toString('hex'),
      AUTO_MIGRATE: 'false',
      SEED_DEMO_DATA: 'false',
      ...options.env,
    };
    if (!options.databaseEnv) await migrate(env);

    const start = async (
      name: ProcessName,
      extra: Record<string, string>,
      entry: Running['entry'] = SERVER,
    ) => {
      const port = name === 'gateway' && options.gatewayPort ? options.gatewayPort : await findFreePort();
      const metricsPort = entry === SERVER ? await findFreePort() : undefined;
      // Only products listens on INTERNAL_PORT; the other processes ignore it.
      const internalPort = name.startsWith('products') ? await findFreePort() : undefined;
      const r: Running = {
        output: [],
        port,
        metricsPort,
        internalPort,
        entry,
        env:
          entry === SERVER
            ? {
                ...env,
                PORT: String(port),
                METRICS_PORT: String(metricsPort),
                ...(internalPort !== undefined ? { INTERNAL_PORT: String(internalPort) } : {}),
                ...extra,
              }
            : { LOG_LEVEL: 'info', ...extra, GATEWAY_PORT: String(port) },
      };
      running.set(name, r);
      spawnProcess(name, r, options.onOutput);
      await waitReady(`http://127.0.0.1:${port}${entry === SERVER ? '/readyz' : '/healthz'}`, r, name);
    };
    const seed = options.seedDemoData ? 'true' : 'false';
    if (stage === '100k') {
      await start('monolith', { SERVICE: 'all', SEED_DEMO_DATA: seed });
    } else {
      // Deploy order: the called service before its callers (as Service Connect needs in AWS).
      const productsNames: ProcessName[] = Array.from({ length: productsReplicas }, (_, i): ProcessName =>
        i === 0 ? 'products' : `products-${i + 1}`,
      );
      // The first seeds (once); the others start together after it.
      await start('products', { SERVICE: 'products', SEED_DEMO_DATA: seed, TRUST_PROXY_HOPS: '1' });
      await Promise.all(
        productsNames
          .slice(1)
          .map((name) =>
            start(name, { SERVICE: 'products', SEED_DEMO_DATA: 'false', TRUST_PROXY_HOPS: '1' }),
          ),
      );
      // Orders reach products' internal port (Service Connect's port mapping in AWS), never its public one; with
      // several products processes through a round-robin (Service Connect's proxy balances in AWS).
      const internalPorts = productsNames.map((name) => running.get(name)!.internalPort!);
      if (internalPorts.length > 1) productsBalancer = await startRoundRobin(internalPorts);
      const productsUrl = productsBalancer?.url ?? `http://127.0.0.1:${internalPorts[0]}`;
      await Promise.all([
        start('users', { SERVICE: 'users', TRUST_PROXY_HOPS: '1' }),
        start('orders', { SERVICE: 'orders', PRODUCTS_URL: productsUrl, TRUST_PROXY_HOPS: '1' }),
      ]);
      const url = (name: ProcessName) => `http://127.0.0.1:${running.get(name)!.port}`;
      await start(
        'gateway',
        {
          USERS_URL: url('users'),
          PRODUCTS_URL: productsNames.map(url).join(','),
          ORDERS_URL: url('orders'),
          ...options.gatewayEnv,
        },
        GATEWAY,
      );
    }
  } catch (err) {
    await stop();
    throw err;
  }

  const processes = new Map<ProcessName, LocalProcess>();
  for (const [name, r] of running) {
    processes.set(name, {
      name,
      url: `http://127.0.0.1:${r.port}`,
      ...(r.metricsPort !== undefined ? { metricsUrl: `http://127.0.0.1:${r.metricsPort}` } : {}),
      ...(r.internalPort !== undefined ? { internalUrl: `http://127.0.0.1:${r.internalPort}` } : {}),
      get pid() {
        // (a killed process has no exit code, only the signal)
        return r.child?.exitCode === null && r.child.signalCode === null ? r.child.pid : undefined;
      },
    });
  }
  const readyUrl = (name: ProcessName, r: Running) =>
    `${processes.get(name)!.url}${r.entry === SERVER ? '/readyz' : '/healthz'}`;
  const entryOf = (name: ProcessName) => {
    const r = running.get(name);
    if (!r)
      throw new Error(`no process "${name}" in the ${stage} topology (${[...running.keys()].join(', ')})`);
    return r;
  };
  const main = stage === '1m' ? 'gateway' : 'monolith';
  return {
    stage,
    url: `http://127.0.0.1:${entryOf(main).port}`,
    processes,
    env: {
      DATABASE_URL: env.DATABASE_URL,
      SHARD_ENDPOINTS: env.SHARD_ENDPOINTS,
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: env.REDIS_KEY_PREFIX,
    },
    kill: async (name, signal = 'SIGKILL') => {
      const r = entryOf(name);
      r.child?.kill(signal);
      await r.exited;
    },
    signal: (name, signal) => {
      entryOf(name).child?.kill(signal);
    },
    restart: async (name) => {
      const r = entryOf(name);
      if (r.child && r.child.exitCode === null && r.child.signalCode === null)
        throw new Error(`${name} is still running`);
      r.output.length = 0;
      spawnProcess(name, r, options.onOutput);
      await waitReady(readyUrl(name, r), r, name);
    },
    redeploy: async (changes) => {
      const replace = async (name: ProcessName) => {
        const r = entryOf(name);
        await stopProcess(r);
        r.env = { ...r.env, ...changes };
        r.output.length = 0;
        spawnProcess(name, r, options.onOutput);
        await waitReady(readyUrl(name, r), r, name);
      };
      const services = [...running.keys()].filter((name) => name !== 'gateway');
      // The called service before its callers, as at start: products (one process after another), then the rest.
      for (const name of services.filter((n) => n.startsWith('products'))) await replace(name);
      await Promise.all(services.filter((n) => !n.startsWith('products')).map(replace));
      const gateway = running.get('gateway');
      if (gateway?.child && (gateway.child.exitCode !== null || gateway.child.signalCode !== null)) {
        gateway.output.length = 0;
        spawnProcess('gateway', gateway, options.onOutput);
        await waitReady(readyUrl('gateway', gateway), gateway, 'gateway');
      }
    },
    stopDatabases: async () => {
      await postgres?.stop();
    },
    stop,
  };
}
