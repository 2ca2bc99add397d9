import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { escapeIdentifier, escapeLiteral } from 'pg';
import type { SqlExecutor } from './database';
import { APP_ROLE, OWNER_ROLE } from './migrations';

/** The login the app connects as: a member of the DML-only group role. */
export interface AppLogin {
  readonly username: string;
  /** @default - no password (a server that trusts local connections, as in the tests) */
  readonly password?: string;
}

/** What {@link ensureAppLogin} did. */
export type AppLoginOutcome = 'created' | 'granted' | 'unchanged';

/** Options of {@link scramSha256Verifier}. */
export interface ScramOptions {
  /** @default - 16 random bytes */
  readonly salt?: Buffer;
  /** @default 4096 (PostgreSQL's scram_iterations default) */
  readonly iterations?: number;
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for a password (what `psql \password` sends): the role is
 * created with the verifier, so the password itself never appears in a statement, a server log or
 * `pg_stat_statements`.
 *
 * @throws Error when the password is not printable ASCII (PostgreSQL would SASLprep-normalise it first).
 */
export function scramSha256Verifier(password: string, options: ScramOptions = {}): string {
  if (!/^[\x20-\x7e]*$/.test(password))
    throw new Error(
      'The app login password must be printable ASCII (Secrets Manager generates such passwords)',
    );
  const salt = options.salt ?? randomBytes(16);
  const iterations = options.iterations ?? 4096;
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

interface RoleFacts {
  rolsuper: boolean;
  rolcreaterole: boolean;
  rolcreatedb: boolean;
  rolbypassrls: boolean;
  is_owner: boolean;
  is_app: boolean;
  is_self: boolean;
}

/**
 * Makes sure the app's login user exists and is a member of the DML-only group role: creates it with the
 * password's SCRAM verifier when missing, grants the group when not a member, and otherwise leaves it alone
 * (its password belongs to the rotation from then on). Run by the migrator, as the owner or master user.
 *
 * @throws Error when the user is privileged (superuser, CREATEROLE, CREATEDB, BYPASSRLS, the migrator itself
 *   or a member of the owner role): the app must not log in as such a role, and the usual cause is the
 *   master's secret given to the app.
 */
export async function ensureAppLogin(db: SqlExecutor, login: AppLogin): Promise<AppLoginOutcome> {
  const facts = async () =>
    (
      await db.query<RoleFacts>(
        `SELECT r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls,
                r.rolname = current_user AS is_self,
                pg_has_role(r.oid, $2, 'MEMBER') AS is_owner,
                pg_has_role(r.oid, $3, 'MEMBER') AS is_app
           FROM pg_roles r WHERE r.rolname = $1`,
        [login.username, OWNER_ROLE, APP_ROLE],
      )
    ).rows[0] as RoleFacts | undefined;

  let role = await facts();
  if (role === undefined) {
    const password =
      login.password === undefined ? '' : ` PASSWORD ${escapeLiteral(scramSha256Verifier(login.password))}`;
    try {
      await db.query(
        `CREATE ROLE ${escapeIdentifier(login.username)} LOGIN${password} IN ROLE ${escapeIdentifier(APP_ROLE)}`,
      );
      return 'created';
    } catch (err) {
      // Another migrator created it a moment ago: check that one like any existing role.
      const code = (err as { code?: string }).code;
      if (code !== '42710' && code !== '23505') throw err;
      role = await facts();
      if (role === undefined) throw err;
    }
  }
  const privileges = [
    role.rolsuper && 'a superuser',
    role.rolcreaterole && 'CREATEROLE',
    role.rolcreatedb && 'CREATEDB',
    role.rolbypassrls && 'BYPASSRLS',
    role.is_self && 'the user migrations log in as',
    role.is_owner && `a member of ${OWNER_ROLE}`,
  ].filter((privilege): privilege is string => typeof privilege === 'string');
  if (privileges.length > 0) {
    throw new Error(
      `The app's database user "${login.username}" is ${privileges.join(', ')}: the app must log in as a ` +
        `DML-only member of ${APP_ROLE}. Give the app (DB_SECRET_ARN or DATABASE_URL) the app role's ` +
        "credentials, and the migrator (DB_MIGRATION_SECRET_ARN or MIGRATION_DATABASE_URL) the owner's.",
    );
  }
  if (role.is_app) return 'unchanged';
  await db.query(`GRANT ${escapeIdentifier(APP_ROLE)} TO ${escapeIdentifier(login.username)}`);
  return 'granted';
}
