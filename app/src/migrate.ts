import { ConfigError, loadConfig } from './config';
import { createDatabase } from './db/create-database';
import { runMigrations } from './db/migrations';

/**
 * One-off migration command (`npm run migrate`, or `node dist/migrate.js` as an ECS task before a deploy):
 * applies pending migrations under the same advisory lock the app takes at start-up, then exits.
 */
async function main(): Promise<void> {
  const config = loadConfig(process.env, { requireSessionSecret: false });
  if (config.database.kind === 'pglite' && !config.database.dataDir) {
    process.stderr.write(
      'No database configured (DATABASE_URL, DB_HOST or PGLITE_DATA_DIR): an in-memory database would be lost.\n',
    );
    process.exit(1);
  }
  const db = await createDatabase(config.database, undefined, 'shop-migrate');
  try {
    const applied = await runMigrations(db);
    process.stdout.write(
      `${JSON.stringify({ msg: applied.length ? 'migrations applied' : 'database is up to date', applied })}\n`,
    );
  } finally {
    await db.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `${err instanceof ConfigError ? err.message : `migration failed: ${(err as Error).message}`}\n`,
  );
  process.exit(1);
});
