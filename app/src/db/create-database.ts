import type { DatabaseConfig } from '../config';
import { SecretsManagerCredentials, type SecretValueSource } from './credentials';
import type { Database, QueryObserver } from './database';
import { PgDatabase } from './pg-database';

/**
 * Opens the database adapter the configuration selects (PGlite when no Postgres is configured). With a
 * `secretArn`, the user name and password come from that secret (read now, and again when the database
 * rejects them after a rotation; each connection logs in with the user name and password of one value).
 *
 * @param secretsClient the Secrets Manager client (tests pass a fake); default - a real one in the secret's region
 */
export async function createDatabase(
  config: DatabaseConfig,
  observe?: QueryObserver,
  applicationName?: string,
  secretsClient?: SecretValueSource,
): Promise<Database> {
  if (config.kind === 'pglite') {
    // Loaded when chosen only: PGlite's WebAssembly module was about 0.45 s of every process start on PostgreSQL.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a lazy load (CommonJS, as the whole app)
    const { PgliteDatabase } = require('./pglite-database') as typeof import('./pglite-database');
    return PgliteDatabase.create({ dataDir: config.dataDir, observe });
  }
  if (config.secretArn === undefined) {
    return new PgDatabase({
      writer: config.writer,
      reader: config.reader,
      poolMax: config.poolMax,
      observe,
      applicationName,
    });
  }
  const credentials = new SecretsManagerCredentials({
    secretArn: config.secretArn,
    ...(secretsClient !== undefined ? { client: secretsClient } : {}),
  });
  // Read now so that a missing or malformed secret stops start-up with its name, not the first request.
  await credentials.get();
  return new PgDatabase({
    writer: config.writer,
    reader: config.reader,
    poolMax: config.poolMax,
    observe,
    applicationName,
    credentials,
  });
}
