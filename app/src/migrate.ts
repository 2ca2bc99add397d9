import { ConfigError, loadConfig } from './config';
import { migrateDatabase } from './db/migrate-database';

/**
 * One-off migration command (`npm run migrate`, or `node dist/migrate.js` as the ECS migration task before a
 * deploy): logs in as the schema owner (DB_MIGRATION_SECRET_ARN or MIGRATION_DATABASE_URL; without either, the
 * app's own connection), applies pending migrations under the advisory lock, makes sure the app's login user
 * exists as a member of the DML-only role, then exits.
 */
async function main(): Promise<void> {
  const config = loadConfig(process.env, { requireSessionSecret: false, migrator: true });
  if (config.region.role === 'secondary') {
    process.stderr.write(
      'REGION_ROLE=secondary: a secondary region has no writer; migrations run in the home region and replicate.\n',
    );
    process.exit(1);
  }
  if (config.database.kind === 'pglite' && !config.database.dataDir) {
    process.stderr.write(
      'No database configured (DATABASE_URL, DB_HOST or PGLITE_DATA_DIR): an in-memory database would be lost.\n',
    );
    process.exit(1);
  }
  const { applied, appLogin, shards } = await migrateDatabase(config);
  process.stdout.write(
    `${JSON.stringify({
      msg: applied.length ? 'migrations applied' : 'database is up to date',
      applied,
      ...(appLogin !== undefined ? { appLogin } : {}),
      // The sharded layout: per physical shard, the schema steps applied now and how long it took.
      ...(shards !== undefined
        ? {
            shards: Object.fromEntries(
              Object.entries(shards).map(([id, r]) => [id, { applied: r.applied, ms: Math.round(r.ms) }]),
            ),
          }
        : {}),
    })}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(
    `${err instanceof ConfigError ? err.message : `migration failed: ${(err as Error).message}`}\n`,
  );
  process.exit(1);
});
