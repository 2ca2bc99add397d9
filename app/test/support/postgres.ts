import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/** Server the tests use: the machine's PostgreSQL 15 (trust auth). Override with TEST_PG_URL. */
export const TEST_PG_ADMIN_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A throw-away database created for one test file. */
export interface TestDatabase {
  /** Database name (random, prefixed `shop_test_`). */
  name: string;
  /** Connection URL of the new database. */
  url: string;
  /** Drops the database, terminating any connection still open. */
  drop(): Promise<void>;
}

function urlFor(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/** Runs `fn` with a client connected to `url`, closed afterwards. */
export async function withClient<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates an empty database with a random name on the test server (or on `adminUrl`). */
export async function createTestDatabase(adminUrl: string = TEST_PG_ADMIN_URL): Promise<TestDatabase> {
  const name = `shop_test_${randomBytes(6).toString('hex')}`;
  await withClient(adminUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  return {
    name,
    url: urlFor(adminUrl, name),
    drop: () =>
      withClient(adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(
        () => {},
      ),
  };
}
