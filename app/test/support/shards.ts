import { startShardedPostgres, type ShardedPostgres } from '../../../tools/local-topology/postgres-shards';
import { createTestDatabase, type TestDatabase } from './postgres';
import { THROWAWAY_POSTGRES_SETTINGS } from '../../../tools/local-topology/services';

/**
 * Two physical shards on two real PostgreSQL servers: shard 0 is a fresh database on the test server, shard 1 a
 * fresh database on a private server started for the test file (initdb on a free port, wal_level=logical as the
 * shard manager's moves need). Both are dropped, and the private server stopped, by `stop()`.
 */
export interface TwoShards {
  readonly shard0: TestDatabase;
  readonly shard1: TestDatabase;
  readonly server: ShardedPostgres;
  /** SHARD_ENDPOINTS naming shard 1 by URL. */
  readonly endpoints: string;
  stop(): Promise<void>;
}

/** Starts {@link TwoShards}. */
export async function startTwoShards(): Promise<TwoShards> {
  const server = await startShardedPostgres({
    shards: 1,
    settings: { max_connections: '200', ...THROWAWAY_POSTGRES_SETTINGS },
  });
  try {
    const [shard0, shard1] = await Promise.all([createTestDatabase(), createTestDatabase(server.urls[0])]);
    return {
      shard0,
      shard1,
      server,
      endpoints: JSON.stringify([{ id: '1', url: shard1.url }]),
      stop: async () => {
        await Promise.allSettled([shard0.drop(), shard1.drop()]);
        await server.stop();
      },
    };
  } catch (err) {
    await server.stop();
    throw err;
  }
}
