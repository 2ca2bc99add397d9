import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { findFreePort } from '../../../tools/local-topology/postgres-replication';

/** A redis-server process of a test's own (so it can be stopped and resumed without touching anyone else's). */
export interface PrivateRedis {
  readonly url: string;
  readonly port: number;
  /** SIGSTOP: the process keeps its connections but answers nothing (a hung Redis). */
  pause(): void;
  /** SIGCONT: answers again, including what queued up meanwhile. */
  resume(): void;
  /** A client of the test's own (for ACL set-up and assertions). */
  client(): Redis;
  /** Kills the process. */
  stop(): Promise<void>;
}

/**
 * Starts `redis-server` (from the machine) on a free loopback port, without persistence, and waits for it.
 * @param args further server arguments, e.g. `['--replicaof', '127.0.0.1', '6380']` for a read-only replica
 */
export async function startPrivateRedis(args: readonly string[] = []): Promise<PrivateRedis> {
  const port = await findFreePort();
  // A directory of its own: a replica's full sync makes the primary write an RDB file even without `--save`.
  const dir = mkdtempSync(path.join(tmpdir(), 'redis-'));
  const serverArgs = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  const child: ChildProcess = spawn(
    'redis-server',
    [...serverArgs, '--daemonize', 'no', '--dir', dir, ...args],
    {
      stdio: 'ignore',
    },
  );
  const url = `redis://127.0.0.1:${port}`;
  const clients: Redis[] = [];
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => {});
  for (let attempt = 0; ; attempt++) {
    try {
      await probe.connect();
      await probe.ping();
      break;
    } catch (err) {
      if (attempt > 100)
        throw new Error(`redis-server on port ${port} did not start: ${(err as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  probe.disconnect();
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return {
    url,
    port,
    pause: () => child.kill('SIGSTOP'),
    resume: () => child.kill('SIGCONT'),
    client: () => {
      const client = new Redis(url, { maxRetriesPerRequest: 1 });
      client.on('error', () => {});
      clients.push(client);
      return client;
    },
    stop: async () => {
      for (const client of clients) client.disconnect();
      child.kill('SIGCONT');
      child.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
