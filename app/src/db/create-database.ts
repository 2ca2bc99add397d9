import type { DatabaseConfig } from '../config';
import type { Database, QueryObserver } from './database';
import { PgDatabase } from './pg-database';
import { PgliteDatabase } from './pglite-database';

/** Opens the database adapter the configuration selects (PGlite when no Postgres is configured). */
export async function createDatabase(
  config: DatabaseConfig,
  observe?: QueryObserver,
  applicationName?: string,
): Promise<Database> {
  if (config.kind === 'pglite') return PgliteDatabase.create({ dataDir: config.dataDir, observe });
  return new PgDatabase({
    writer: config.writer,
    reader: config.reader,
    poolMax: config.poolMax,
    observe,
    applicationName,
  });
}
