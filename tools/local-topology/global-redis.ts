/**
 * Private Redis servers for stage global's local topology: the home region's Redis (cache, sessions, queues), a
 * read-only replica of it per other region (`redis-server --replicaof`: the ElastiCache Global Datastore secondary
 * that serves sessions there) and a regional cache per other region. Each is a real `redis-server` on a free
 * port, without persistence, killed on stop and on process exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { findFreePort } from './postgres-replication';

/** A running private Redis server. */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /**
   * Replicates `primary` from now on (`REPLICAOF`; resolves once the link is up and the replica has what the
   * primary had), or, given none, takes writes as a primary of its own (`REPLICAOF NO ONE`: a Global Datastore
   * secondary promoted).
   */
  replicate(primary: RedisServer | undefined, timeoutMs?: number): Promise<void>;
  /** Waits until this replica has processed everything its primary had sent when the call started (none: at once). */
  waitForCatchUp(timeoutMs?: number): Promise<void>;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s). Safe to call more than once. */
  stop(): Promise<void>;
}

/** Options of {@link startRedisServer}. */
export interface StartRedisServerOptions {
  /** Make the server a read-only replica of this one (`replicaof`); start resolves once its link is up. */
  readonly replicaOf?: RedisServer;
  /** The binary. @default - `$REDIS_SERVER_BIN`, else `redis-server` on PATH */
  readonly binary?: string;
}

/** Starts a private `redis-server`; rejects with its output when it does not answer PING within 15 s. */
export async function startRedisServer(options: StartRedisServerOptions = {}): Promise<RedisServer> {
  const port = await findFreePort();
  const binary = options.binary ?? process.env.REDIS_SERVER_BIN ?? 'redis-server';
  // A directory of its own: a replica writes the snapshot of its full sync there (dump.rdb), never into the cwd.
  const dir = mkdtempSync(path.join(tmpdir(), 'redis-'));
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
  ];
  if (options.replicaOf) args.push('--replicaof', '127.0.0.1', String(options.replicaOf.port));
  const output: string[] = [];
  let child: ChildProcess;
  try {
    child = spawn(binary, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    throw new Error(
      `could not start ${binary} (${(err as Error).message}): install Redis (apt-get install redis-server) or set REDIS_SERVER_BIN`,
    );
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));
  child.once('error', (err) => output.push(`${binary}: ${err.message}`));
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  const killSync = () => {
    if (!gone) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', killSync);
  const url = `redis://127.0.0.1:${port}`;
  const stop = async () => {
    process.removeListener('exit', killSync);
    if (!gone) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {}); // refused while the server starts: the loop below retries
  try {
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (gone) throw new Error(`redis-server on port ${port} exited while starting`);
      try {
        if (client.status !== 'ready') await client.connect();
        if (!options.replicaOf) {
          await client.ping();
          break;
        }
        const info = await client.info('replication');
        if (/master_link_status:up/.test(info)) break;
      } catch {
        // not listening yet
        client.disconnect();
      }
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} not ready after 15 s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}:\n${output.join('').slice(-2000)}`);
  } finally {
    client.disconnect();
  }
  let primary = options.replicaOf;
  /** One short-lived client for `run`, closed after it. */
  const withClient = async <T>(target: string, run: (client: Redis) => Promise<T>): Promise<T> => {
    const c = new Redis(target, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on('error', () => {}); // the command's own rejection says what went wrong
    try {
      await c.connect();
      return await run(c);
    } finally {
      c.disconnect();
    }
  };
  const field = (info: string, name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
  const waitForCatchUp = async (timeoutMs = 15_000) => {
    if (!primary) return;
    const target = Number(
      field(await withClient(primary.url, (c) => c.info('replication')), 'master_repl_offset'),
    );
    const deadline = Date.now() + timeoutMs;
    await withClient(url, async (c) => {
      for (;;) {
        const info = await c.info('replication');
        if (field(info, 'master_link_status') === 'up' && Number(field(info, 'slave_repl_offset')) >= target)
          return;
        if (Date.now() > deadline)
          throw new Error(
            `redis-server on port ${port} did not reach its primary's offset ${target} within ${timeoutMs} ms ` +
              `(link ${field(info, 'master_link_status')}, offset ${field(info, 'slave_repl_offset')})`,
          );
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    });
  };
  const replicate = async (next: RedisServer | undefined, timeoutMs = 15_000) => {
    await withClient(url, (c) =>
      next ? c.call('REPLICAOF', '127.0.0.1', String(next.port)) : c.call('REPLICAOF', 'NO', 'ONE'),
    );
    primary = next;
    await waitForCatchUp(timeoutMs);
  };
  return { url, port, replicate, waitForCatchUp, stop };
}
