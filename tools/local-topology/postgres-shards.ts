/**
 * Physical shards for the local topology of stage 100k and its tests: 2 or 3 private PostgreSQL servers, each made
 * like {@link startPrivatePostgres} (initdb on a free port, TCP only, removed on stop and on process exit), with
 * `wal_level=logical` as the shard manager's moves (publication per logical shard schema) need.
 */
import {
  startPrivatePostgres,
  type PrivatePostgres,
  type StartReplicatedPostgresOptions,
} from './postgres-replication';

/** Running shard servers: shard `i` is `servers[i]` (shard 0 holds the catalog and the control schema). */
export interface ShardedPostgres {
  /** Connection URL of each shard's server (database `postgres`, user `postgres`, trust auth). */
  readonly urls: readonly string[];
  /**
   * The app's environment for these shards: DATABASE_URL of shard 0 and SHARD_ENDPOINTS of the others, each URL
   * pointed at `database` (which the caller creates on every server).
   */
  env(database: string): { DATABASE_URL: string; SHARD_ENDPOINTS: string };
  /** Stops every server and removes its data directory. Safe to call more than once. */
  stop(): Promise<void>;
}

/** Options of {@link startShardedPostgres}. */
export interface StartShardedPostgresOptions extends StartReplicatedPostgresOptions {
  /** Number of physical shards. @default 2 */
  readonly shards?: number;
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** Starts {@link ShardedPostgres}: the servers start one after another (initdb is CPU-bound). */
export async function startShardedPostgres(opts: StartShardedPostgresOptions = {}): Promise<ShardedPostgres> {
  const count = opts.shards ?? 2;
  if (!Number.isInteger(count) || count < 1 || count > 8)
    throw new Error(`shards must be 1 to 8, got ${count}`);
  const servers: PrivatePostgres[] = [];
  const stop = async () => {
    await Promise.allSettled(servers.map((server) => server.stop()));
  };
  try {
    for (let i = 0; i < count; i++) {
      servers.push(
        await startPrivatePostgres({ ...opts, settings: { wal_level: 'logical', ...opts.settings } }),
      );
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const urls = servers.map((server) => server.url);
  return {
    urls,
    env: (database) => ({
      DATABASE_URL: withDatabase(urls[0], database),
      SHARD_ENDPOINTS: JSON.stringify(
        urls.slice(1).map((url, i) => ({ id: String(i + 1), url: withDatabase(url, database) })),
      ),
    }),
    stop,
  };
}
