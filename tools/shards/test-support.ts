/**
 * Real servers for the shard manager's tests: private Postgres servers with `wal_level=logical` (initdb on free
 * ports, tools/local-topology/postgres-replication.ts) and the app's sharded layout on them, made by the app's own
 * migrations (app/migrations/control and app/migrations/shard, so the tables cannot drift from the app's): a
 * control schema on shard 0, and every logical shard's schema on every physical shard (empty where it does not
 * live), the app role with DML.
 */
import { Client } from 'pg';
import { startPrivatePostgres, type PrivatePostgres } from '../local-topology/postgres-replication';
import { loadShardLayoutMigrations } from '../../app/src/sharding/shard-migrations';
import { PgShardControl } from './control';
import type { ShardEndpoint } from './endpoints';
import { shardSchema } from '../../app/src/sharding/logical-shard';
import { ShardMover, type ShardMoverOptions } from './move';

/** Starts `count` logical-replication servers in parallel; shard ids "0", "1", ... */
export async function startShardServers(count: number): Promise<PrivatePostgres[]> {
  const started = await Promise.allSettled(
    Array.from({ length: count }, () =>
      startPrivatePostgres({
        settings: {
          wal_level: 'logical',
          max_replication_slots: '20',
          max_wal_senders: '20',
          max_connections: '60',
          fsync: 'off',
          // Feedback from subscribers at least every second (the default is 10 s).
          wal_receiver_status_interval: '1',
          // The launcher starts apply workers at most this often (5 s by default): back-to-back moves wait less.
          wal_retrieve_retry_interval: '200ms',
        },
      }),
    ),
  );
  const servers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    await Promise.allSettled(servers.map((s) => s.stop()));
    throw (failed as PromiseRejectedResult).reason;
  }
  return servers;
}

/** Connects as the server's superuser. */
export async function connect(url: string): Promise<Client> {
  const client = new Client({ connectionString: url, application_name: 'shard-test' });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** The app's login user: a member of the DML-only group role `shop_app`. */
export function appUrl(url: string): string {
  const parsed = new URL(url);
  parsed.username = 'shop_app_user';
  return parsed.toString();
}

/** Options of {@link createLayout}. */
export interface LayoutOptions {
  /** Logical shards (schemas). @default 4 */
  readonly logicalShards?: number;
  /**
   * Where each logical shard lives (shard ids by logical shard). @default - all on "0"
   */
  readonly assignment?: readonly string[];
  /**
   * Whether every physical shard gets every schema (the app's layout) or only the shard it lives on.
   * @default true
   */
  readonly everywhere?: boolean;
}

/** Creates roles, the control schema (on the first server) and the logical shard schemas. */
export async function createLayout(urls: readonly string[], options: LayoutOptions = {}): Promise<void> {
  const n = options.logicalShards ?? 4;
  const assignment = options.assignment ?? Array.from({ length: n }, () => '0');
  const migrations = await loadShardLayoutMigrations();
  for (const [i, url] of urls.entries()) {
    const db = await connect(url);
    try {
      await db.query(`
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'shop_owner') THEN CREATE ROLE shop_owner; END IF;
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'shop_app') THEN CREATE ROLE shop_app; END IF;
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'shop_app_user') THEN
            CREATE ROLE shop_app_user LOGIN IN ROLE shop_app;
          END IF;
        END $$;
        CREATE TABLE IF NOT EXISTS public.shard_schema_migrations (
          schema_name text NOT NULL, version integer NOT NULL, name text NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (schema_name, version));`);
      if (i === 0) {
        // The app's own control migrations (shard map, shard list, the manager's moves and history).
        await db.query('CREATE SCHEMA control AUTHORIZATION shop_owner');
        for (const migration of migrations.control)
          await db.query(
            `BEGIN; SET LOCAL ROLE shop_owner; SET LOCAL search_path TO control;\n${migration.sql}\n;COMMIT;`,
          );
        await db.query(
          `INSERT INTO control.shard_map (logical_shard, shard_id) SELECT i, ($1::text[])[i + 1]
           FROM generate_series(0, $2 - 1) AS i`,
          [assignment, n],
        );
        await db.query(
          `INSERT INTO control.shards (shard_id, writer) SELECT i::text, 'server ' || i FROM generate_series(0, $1 - 1) i`,
          [urls.length],
        );
      }
      for (let ls = 0; ls < n; ls++) {
        if (options.everywhere === false && assignment[ls] !== String(i)) continue;
        const schema = shardSchema(ls);
        // As migrateShardLayout applies them: each schema owned by the owner, its migrations run as the owner with
        // the schema as search_path (they grant the app role its DML themselves), and recorded where the layout
        // keeps the schema on every shard.
        await db.query(`CREATE SCHEMA ${schema} AUTHORIZATION shop_owner`);
        for (const migration of migrations.shard) {
          await db.query(
            `BEGIN; SET LOCAL ROLE shop_owner; SET LOCAL search_path TO ${schema};\n${migration.sql}\n;RESET ROLE;`,
          );
          if (options.everywhere !== false)
            await db.query(
              'INSERT INTO public.shard_schema_migrations (schema_name, version, name) VALUES ($1, $2, $3)',
              [schema, migration.version, migration.name],
            );
          await db.query('COMMIT');
        }
      }
    } finally {
      await db.end();
    }
  }
}

/** Shard endpoints for servers started by {@link startShardServers}. */
export function endpointsOf(servers: readonly PrivatePostgres[]): ShardEndpoint[] {
  return servers.map((s, i) => ({ id: String(i), url: s.url, replicationUrl: s.url }));
}

/** A mover over the servers with a control client it owns; `close()` ends both. */
export async function moverFor(
  servers: readonly PrivatePostgres[],
  options: Partial<ShardMoverOptions> = {},
): Promise<{ mover: ShardMover; control: PgShardControl; close: () => Promise<void> }> {
  const controlDb = await connect(servers[0].url);
  const control = new PgShardControl(controlDb);
  const mover = new ShardMover({
    control,
    shards: endpointsOf(servers),
    connect: (shard) => connect(shard.url),
    rollbackWindowMs: 200,
    // The tests' routers read the map every 100 ms.
    mapRefreshMs: 100,
    ...options,
  });
  return {
    mover,
    control,
    close: async () => {
      await mover.close();
      await controlDb.end();
    },
  };
}

/** Replication slots, publications and subscriptions left on a server (all should be empty after a move). */
export async function leftovers(url: string): Promise<string[]> {
  const db = await connect(url);
  try {
    const { rows } = await db.query<{ what: string }>(
      `SELECT 'slot ' || slot_name AS what FROM pg_replication_slots
       UNION ALL SELECT 'publication ' || pubname FROM pg_publication
       UNION ALL SELECT 'subscription ' || subname FROM pg_subscription`,
    );
    return rows.map((r) => r.what);
  } finally {
    await db.end();
  }
}
