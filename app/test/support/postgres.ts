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

/**
 * Creates a database with a random name on the test server (or on `adminUrl`): empty, or a copy of `template`
 * (`CREATE DATABASE ... TEMPLATE`: a block copy, without the checkpoints of STRATEGY FILE_COPY that would flush
 * the other tests' writes too; a few seconds for the 256 schemas of a sharded layout, where migrating and seeding
 * again takes several times that). Nobody may be connected to the template; a connection still closing is waited
 * out.
 */
export async function createTestDatabase(
  adminUrl: string = TEST_PG_ADMIN_URL,
  options: { template?: string } = {},
): Promise<TestDatabase> {
  const name = `shop_test_${randomBytes(6).toString('hex')}`;
  const sql = options.template
    ? `CREATE DATABASE ${name} TEMPLATE ${options.template}`
    : `CREATE DATABASE ${name}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await withClient(adminUrl, (client) => client.query(sql));
      break;
    } catch (err) {
      // 55006: "source database is being accessed by other users" (a backend of a closed pool still exiting)
      if ((err as { code?: string }).code !== '55006' || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return {
    name,
    url: urlFor(adminUrl, name),
    drop: () =>
      withClient(adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(
        () => {},
      ),
  };
}
