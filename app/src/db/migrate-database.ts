import type { AppConfig, PostgresConfig } from '../config';
import { ensureAppLogin, type AppLogin, type AppLoginOutcome } from './app-login';
import { createDatabase } from './create-database';
import { SecretsManagerCredentials, type SecretValueSource } from './credentials';
import type { Database } from './database';
import { runMigrations, type Migration } from './migrations';
import { migrateShards, type ShardLayoutResults } from '../sharding/shard-layout';

/** Options of {@link migrateDatabase}. */
export interface MigrateDatabaseOptions {
  /** The Secrets Manager client (tests pass a fake). @default - a real one in each secret's region */
  readonly secretsClient?: SecretValueSource;
  /** @default - the numbered files of app/migrations */
  readonly migrations?: Migration[];
  /**
   * The database to migrate when no separate migration connection is configured (the app's own, already
   * open). @default - opened from `config.database`
   */
  readonly database?: Database;
}

/** What {@link migrateDatabase} did. */
export interface MigrateDatabaseResult {
  /** Versions applied now (empty when the database was current). */
  readonly applied: number[];
  /** The app's login user and what was done to it; absent when migrations ran on the app's own connection. */
  readonly appLogin?: { readonly username: string; readonly outcome: AppLoginOutcome };
  /** The sharded layout (with SHARD_ENDPOINTS): what was done on each physical shard, by shard id. */
  readonly shards?: ShardLayoutResults;
}

/**
 * The sharded layout's part: the other shards' public migrations (and their app login, when the shard has an
 * owner's connection), every shard's logical shard schemas, the control schema and map on shard 0.
 */
async function migrateShardedLayout(
  config: AppConfig,
  shard0: Database,
  options: MigrateDatabaseOptions,
): Promise<ShardLayoutResults | undefined> {
  if (!config.sharding) return undefined;
  return migrateShards(
    config,
    shard0,
    async (db, shardId) => {
      await runMigrations(db, options.migrations);
      const endpoint = config.sharding?.shards.find((shard) => shard.id === shardId);
      if (endpoint?.migrationDatabase)
        await ensureAppLogin(db, await appLoginOf(endpoint.database, options.secretsClient));
    },
    options.secretsClient,
  );
}

/**
 * The user name and password the app logs in with, as the migrator must create them: from the app's secret
 * (AWSCURRENT), or from its static settings (DATABASE_URL, DB_USER/DB_PASSWORD).
 */
async function appLoginOf(database: PostgresConfig, secretsClient?: SecretValueSource): Promise<AppLogin> {
  if (database.secretArn !== undefined) {
    const credentials = new SecretsManagerCredentials({
      secretArn: database.secretArn,
      ...(secretsClient !== undefined ? { client: secretsClient } : {}),
    });
    return credentials.get();
  }
  const { writer } = database;
  if (writer.connectionString !== undefined) {
    const url = new URL(writer.connectionString);
    if (url.username === '') throw new Error('DATABASE_URL names no user for the app to log in as');
    return {
      username: decodeURIComponent(url.username),
      ...(url.password !== '' ? { password: decodeURIComponent(url.password) } : {}),
    };
  }
  if (writer.user === undefined) throw new Error('DB_USER names no user for the app to log in as');
  return { username: writer.user, ...(writer.password !== undefined ? { password: writer.password } : {}) };
}

/**
 * Migrates the database the way the migration task does (`npm run migrate`, and the app's start-up with
 * AUTO_MIGRATE): logs in with the migration connection when one is configured (the schema owner), applies
 * the pending migrations, and makes sure the app's login user exists as a member of the DML-only role.
 * Without a migration connection, migrations run on the app's own connection (the embedded default, or a
 * local superuser) and no login is provisioned.
 */
export async function migrateDatabase(
  config: AppConfig,
  options: MigrateDatabaseOptions = {},
): Promise<MigrateDatabaseResult> {
  const { migrationDatabase } = config;
  if (migrationDatabase === undefined) {
    const db =
      options.database ??
      (await createDatabase(config.database, undefined, 'shop-migrate', options.secretsClient));
    try {
      const applied = await runMigrations(db, options.migrations);
      const shards = await migrateShardedLayout(config, db, options);
      return { applied, ...(shards ? { shards } : {}) };
    } finally {
      if (options.database === undefined) await db.close();
    }
  }
  const db = await createDatabase(migrationDatabase, undefined, 'shop-migrate', options.secretsClient);
  try {
    const applied = await runMigrations(db, options.migrations);
    const shards = await migrateShardedLayout(config, db, options);
    const withShards = shards ? { shards } : {};
    if (config.database.kind !== 'postgres') return { applied, ...withShards };
    const login = await appLoginOf(config.database, options.secretsClient);
    return {
      applied,
      appLogin: { username: login.username, outcome: await ensureAppLogin(db, login) },
      ...withShards,
    };
  } finally {
    await db.close();
  }
}
