import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/** A role name unique to this run (role names are global to a PostgreSQL server; databases are not). */
export function uniqueRoleName(label: string): string {
  return `${label}_${randomBytes(5).toString('hex')}`;
}

/** `databaseUrl` with another user (and password) in it. */
export function loginUrl(databaseUrl: string, username: string, password?: string): string {
  const url = new URL(databaseUrl);
  url.username = encodeURIComponent(username);
  url.password = password === undefined ? '' : encodeURIComponent(password);
  return url.toString();
}

/**
 * Drops login roles a test made, once its databases are gone (a role that still holds privileges in a
 * database cannot be dropped). The group roles shop_owner and shop_app stay: other test files share them.
 */
export async function dropRoles(adminUrl: string, names: string[]): Promise<void> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    for (const name of names) await client.query(`DROP ROLE IF EXISTS ${client.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
}

/** Runs one statement as a fresh connection of `url`; resolves to its SQLSTATE, or 'ok' when it succeeded. */
export async function sqlStateOf(url: string, sql: string): Promise<string> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
    return 'ok';
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  } finally {
    await client.end();
  }
}
