import type { AppConfig, DatabaseConfig, ShardingConfig } from '../config';
import type { SecretValueSource } from '../db/credentials';
import { createDatabase } from '../db/create-database';
import type { Database, QueryObserver, SqlConnection, SqlExecutor } from '../db/database';
import { OWNER_ROLE } from '../db/migrations';
import { ReadRouter } from '../read-routing';
import { migrateShardLayout, pendingShardLayout, type ShardLayoutMigrationResult } from './shard-migrations';
import { assertShardMapUsable, loadShardMap, ShardMapCache, USER_DATA_LAYOUT_KEY } from './shard-map';
import { UserDataRouter, type PhysicalShard } from './user-data-router';

/** How shard 0 is described in control.shards: host:port or its URL without credentials. */
export function describeShard0(database: DatabaseConfig): { writer: string; reader?: string } {
  if (database.kind === 'pglite') return { writer: `pglite:${database.dataDir ?? 'memory'}` };
  const describe = (c: { connectionString?: string; host?: string; port?: number }) => {
    if (c.connectionString === undefined) return `${c.host}:${c.port}`;
    const url = new URL(c.connectionString);
    url.username = '';
    url.password = '';
    return url.toString();
  };
  return {
    writer: describe(database.writer),
    ...(database.reader ? { reader: describe(database.reader) } : {}),
  };
}

/**
 * First-start bootstrap of the control schema, on the migration connection under the migration lock: records N,
 * assigns every logical shard when the map is empty (contiguous ranges over the configured shards, shard 0
 * first; after that only the shard manager changes the map), and records the configured shards' endpoints.
 */
export async function bootstrapShardMap(
  conn: SqlConnection,
  sharding: ShardingConfig,
  shard0: { writer: string; reader?: string },
): Promise<void> {
  const ids = ['0', ...sharding.shards.map((shard) => shard.id)];
  const described = [shard0, ...sharding.shards.map((shard) => shard.description)];
  await conn.exec(`BEGIN; SET LOCAL ROLE ${OWNER_ROLE};`);
  try {
    await conn.query(
      `INSERT INTO control.settings (key, value) VALUES ('logical_shards', $1) ON CONFLICT (key) DO NOTHING`,
      [String(sharding.logicalShards)],
    );
    // The first bootstrap of a database that already holds users in its public tables (a running 10k
    // deployment) keeps the unsharded layout until tools/unsharded-move moves them, with every logical shard on
    // shard 0 where the rows are; an empty one starts sharded. Only when the map is empty: a layout in use is
    // never switched back.
    await conn.query(
      `INSERT INTO control.settings (key, value)
       SELECT '${USER_DATA_LAYOUT_KEY}',
              CASE WHEN EXISTS (SELECT 1 FROM public.users) THEN 'unsharded' ELSE 'sharded' END
       WHERE NOT EXISTS (SELECT 1 FROM control.shard_map)
       ON CONFLICT (key) DO NOTHING`,
    );
    // Only when the map is empty and N is the recorded one (a different N is reported at start-up).
    await conn.query(
      `INSERT INTO control.shard_map (logical_shard, shard_id)
       SELECT ls, CASE WHEN layout.value = 'unsharded' THEN '0'
                       ELSE ($2::text[])[1 + (ls * cardinality($2::text[])) / $1] END
       FROM generate_series(0, $1 - 1) AS ls
       LEFT JOIN control.settings layout ON layout.key = '${USER_DATA_LAYOUT_KEY}'
       WHERE NOT EXISTS (SELECT 1 FROM control.shard_map)
         AND (SELECT value FROM control.settings WHERE key = 'logical_shards') = $1::text`,
      [sharding.logicalShards, ids],
    );
    await conn.query(
      `INSERT INTO control.shards (shard_id, writer, reader)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
       ON CONFLICT (shard_id) DO UPDATE SET writer = excluded.writer, reader = excluded.reader, updated_at = now()
       WHERE (control.shards.writer, control.shards.reader) IS DISTINCT FROM (excluded.writer, excluded.reader)`,
      [ids, described.map((d) => d.writer), described.map((d) => d.reader ?? null)],
    );
    await conn.exec('COMMIT');
  } catch (err) {
    await conn.exec('ROLLBACK').catch(() => {});
    throw err;
  }
}

/**
 * Whether {@link bootstrapShardMap} would change anything: N not recorded, the map empty, or a configured shard
 * missing from control.shards or described differently there. Read without the migration lock, so an instance
 * starting during a move (which holds that lock) does not wait when there is nothing to record.
 */
export async function bootstrapShardMapNeeded(
  db: SqlExecutor,
  sharding: ShardingConfig,
  shard0: { writer: string; reader?: string },
): Promise<boolean> {
  const ids = ['0', ...sharding.shards.map((shard) => shard.id)];
  const described = [shard0, ...sharding.shards.map((shard) => shard.description)];
  const { rows } = await db.query<{ needed: boolean }>(
    `SELECT NOT EXISTS (SELECT 1 FROM control.settings WHERE key = 'logical_shards')
         OR NOT EXISTS (SELECT 1 FROM control.shard_map)
         OR EXISTS (
              SELECT 1 FROM unnest($1::text[], $2::text[], $3::text[]) AS c(shard_id, writer, reader)
              WHERE NOT EXISTS (
                SELECT 1 FROM control.shards s
                WHERE s.shard_id = c.shard_id AND (s.writer, s.reader) IS NOT DISTINCT FROM (c.writer, c.reader)))
         AS needed`,
    [ids, described.map((d) => d.writer), described.map((d) => d.reader ?? null)],
  );
  return rows[0].needed;
}

/** What migrating the sharded layout did on each physical shard. */
export type ShardLayoutResults = Record<string, ShardLayoutMigrationResult>;

/**
 * Migrates the sharded layout everywhere: on each shard of SHARD_ENDPOINTS (with its owner's connection when one
 * is configured) the public migrations `runPublic` and the logical shard schemas; then on shard 0 (`shard0`,
 * whose public migrations the caller already ran) the control schema, the schemas and the map's bootstrap.
 */
export async function migrateShards(
  config: AppConfig,
  shard0: Database,
  runPublic: (db: Database, shardId: string) => Promise<void>,
  secretsClient?: SecretValueSource,
): Promise<ShardLayoutResults> {
  const sharding = config.sharding;
  if (!sharding) return {};
  // Before anything is created: a build with another N would add (or ignore) schemas of a layout in use.
  const { rows: found } = await shard0.query<{ table: string | null }>(
    "SELECT to_regclass('control.settings')::text AS table",
  );
  if (found[0].table !== null) {
    const { rows } = await shard0.query<{ value: string }>(
      "SELECT value FROM control.settings WHERE key = 'logical_shards'",
    );
    if (rows[0] && Number(rows[0].value) !== sharding.logicalShards)
      assertShardMapUsable(
        { entries: [], epoch: 0, logicalShards: Number(rows[0].value) },
        sharding.logicalShards,
        [],
      );
  }
  const results: ShardLayoutResults = {};
  for (const shard of sharding.shards) {
    const db = await createDatabase(
      shard.migrationDatabase ?? shard.database,
      undefined,
      'shop-migrate',
      secretsClient,
    );
    try {
      await runPublic(db, shard.id);
      results[shard.id] = await migrateShardLayout(db, {
        logicalShards: sharding.logicalShards,
        control: false,
      });
    } finally {
      await db.close();
    }
  }
  results['0'] = await migrateShardLayout(shard0, {
    logicalShards: sharding.logicalShards,
    control: true,
    then: (conn) => bootstrapShardMap(conn, sharding, describeShard0(config.database)),
    thenNeeded: (db) => bootstrapShardMapNeeded(db, sharding, describeShard0(config.database)),
  });
  return results;
}

/** Options of {@link openUserDataRouter}. */
export interface OpenUserDataRouterOptions {
  readonly config: AppConfig;
  /** Shard 0, opened by the app. */
  readonly shard0: Database;
  /** Counts queries (metrics), with the shard they went to. */
  readonly observe: (shardId: string) => QueryObserver;
  readonly applicationName?: string;
  readonly secretsClient?: SecretValueSource;
  /** Whether migrations ran at this start (else every shard is checked for a complete layout). */
  readonly migrated: boolean;
  /** A failed map refresh (the last good map stays in use). */
  readonly onMapError?: (err: Error) => void;
}

/**
 * Opens the user data router: unsharded without SHARD_ENDPOINTS; else every physical shard's pools, checks that
 * every shard's layout is migrated and that the map fits this build and configuration (stopping start-up with
 * one message naming the key and the fix), and starts the map's epoch check.
 */
export async function openUserDataRouter(options: OpenUserDataRouterOptions): Promise<UserDataRouter> {
  const { config, shard0 } = options;
  const windowMs = config.readYourWritesWindowMs;
  const zero: PhysicalShard = { id: '0', db: shard0, reads: new ReadRouter(shard0, windowMs, '0') };
  const sharding = config.sharding;
  if (!sharding) return UserDataRouter.unsharded(zero);
  const shards: PhysicalShard[] = [zero];
  try {
    for (const endpoint of sharding.shards) {
      const db = await createDatabase(
        endpoint.database,
        options.observe(endpoint.id),
        options.applicationName,
        options.secretsClient,
      );
      shards.push({ id: endpoint.id, db, reads: new ReadRouter(db, windowMs, endpoint.id) });
    }
    if (!options.migrated) {
      for (const shard of shards) {
        const pending = await pendingShardLayout(shard.db, {
          logicalShards: sharding.logicalShards,
          control: shard.id === '0',
        });
        if (pending > 0)
          throw new Error(
            `Shard "${shard.id}" lacks ${pending} steps of the sharded layout: run the migration task ` +
              '(npm run migrate, with the same SHARD_ENDPOINTS) before starting the app, or set AUTO_MIGRATE=true',
          );
      }
    }
    const ids = shards.map((shard) => shard.id);
    const validate = (map: Awaited<ReturnType<typeof loadShardMap>>) =>
      assertShardMapUsable(map, sharding.logicalShards, ids);
    const initial = await loadShardMap(shard0.writer);
    validate(initial);
    const map = new ShardMapCache(shard0.writer, initial, validate, {
      refreshMs: sharding.refreshMs,
      writeWaitMs: sharding.writeWaitMs,
      onError: options.onMapError,
    });
    map.start();
    return UserDataRouter.sharded(shards, map, sharding.logicalShards);
  } catch (err) {
    await Promise.allSettled(shards.slice(1).map((shard) => shard.db.close()));
    throw err;
  }
}
