import { Client } from 'pg';
import { buildApp } from '../src/app';
import { loadConfig } from '../src/config';
import { createDatabase } from '../src/db/create-database';
import type { Database } from '../src/db/database';
import { scramSha256Verifier } from '../src/db/app-login';
import { migrateDatabase } from '../src/db/migrate-database';
import { APP_ROLE, loadMigrations, OWNER_ROLE, runMigrations } from '../src/db/migrations';
import { PgDatabase } from '../src/db/pg-database';
import { PgliteDatabase } from '../src/db/pglite-database';
import { testConfig } from './support/app';
import { FakeSecrets } from './support/fake-secrets';
import { startPasswordPostgres, type PasswordPostgres } from './support/password-postgres';
import { createTestDatabase, TEST_PG_ADMIN_URL, type TestDatabase } from './support/postgres';
import { dropRoles, loginUrl, sqlStateOf, uniqueRoleName } from './support/roles';

/** SQLSTATE insufficient_privilege: "permission denied", "must be owner". */
const DENIED = '42501';

async function query<R>(url: string, sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as R[];
  } finally {
    await client.end();
  }
}

describe('roles on the machine server: owner migrates, the app is DML-only', () => {
  let database: TestDatabase;
  const appUser = uniqueRoleName('shop_app_test');
  let appUrl: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    appUrl = loginUrl(database.url, appUser);
    // GIVEN the owner (here the server's superuser) migrates and provisions the app's login, as the task does
    const result = await migrateDatabase(
      testConfig({ DATABASE_URL: appUrl, MIGRATION_DATABASE_URL: database.url }),
    );
    expect(result.applied).toEqual((await loadMigrations()).map((m) => m.version));
    expect(result.appLogin).toEqual({ username: appUser, outcome: 'created' });
  });

  afterAll(async () => {
    await database?.drop();
    await dropRoles(TEST_PG_ADMIN_URL, [appUser]);
  });

  test('every table is owned by the owner role; the app user is a plain member of the app role', async () => {
    const owners = await query<{ relname: string; owner: string }>(
      database.url,
      `SELECT relname, pg_get_userbyid(relowner) AS owner FROM pg_class
        WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p', 'v', 'm', 'S') ORDER BY relname`,
    );
    expect(owners.map((o) => o.relname)).toEqual(
      expect.arrayContaining(['order_items', 'orders', 'products', 'schema_migrations', 'users']),
    );
    expect(new Set(owners.map((o) => o.owner))).toEqual(new Set([OWNER_ROLE]));

    const [role] = await query<Record<string, unknown>>(
      database.url,
      `SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolcanlogin,
              pg_has_role(rolname, $2, 'MEMBER') AS app, pg_has_role(rolname, $3, 'MEMBER') AS owner,
              (SELECT array_agg(b.rolname::text) FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid
                WHERE m.member = r.oid) AS member_of
         FROM pg_roles r WHERE rolname = $1`,
      [appUser, APP_ROLE, OWNER_ROLE],
    );
    expect(role).toEqual({
      rolsuper: false,
      rolcreaterole: false,
      rolcreatedb: false,
      rolbypassrls: false,
      rolcanlogin: true,
      app: true,
      owner: false,
      member_of: [APP_ROLE],
    });
  });

  test.each([
    ['DROP TABLE', 'DROP TABLE order_items'],
    ['ALTER TABLE (add a column)', 'ALTER TABLE products ADD COLUMN colour text'],
    ['ALTER TABLE (rename)', 'ALTER TABLE users RENAME TO customers'],
    ['CREATE INDEX', 'CREATE INDEX ON products (name)'],
    ['CREATE TABLE', 'CREATE TABLE scratch (a int)'],
    ['CREATE VIEW', 'CREATE VIEW all_users AS SELECT * FROM users'],
    ['CREATE FUNCTION', 'CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$'],
    ['CREATE SCHEMA', 'CREATE SCHEMA side'],
    ['TRUNCATE', 'TRUNCATE orders CASCADE'],
    ['COMMENT ON', "COMMENT ON TABLE products IS 'mine'"],
    [
      'ALTER DEFAULT PRIVILEGES of the owner',
      `ALTER DEFAULT PRIVILEGES FOR ROLE ${OWNER_ROLE} GRANT ALL ON TABLES TO PUBLIC`,
    ],
    ['SET ROLE to the owner', `SET ROLE ${OWNER_ROLE}`],
    ['CREATE ROLE', 'CREATE ROLE intruder LOGIN'],
    ['rewrite the migration history', 'DELETE FROM schema_migrations'],
    ['add to the migration history', "INSERT INTO schema_migrations (version, name) VALUES (999, 'fake')"],
  ])('the app role cannot %s', async (_label, sql) => {
    expect(await sqlStateOf(appUrl, sql)).toBe(DENIED);
  });

  test('the app role cannot change privileges: GRANT and REVOKE change nothing', async () => {
    // A role with some privilege but no grant option gets a warning, not an error: check the effect.
    expect(await sqlStateOf(appUrl, 'GRANT SELECT, DELETE ON users TO PUBLIC')).toBe('ok');
    expect(await sqlStateOf(appUrl, `REVOKE SELECT ON products FROM ${APP_ROLE}`)).toBe('ok');
    expect(await sqlStateOf(appUrl, `ALTER ROLE ${appUser} CREATEROLE`)).toBe(DENIED);
    const [effect] = await query<Record<string, boolean>>(
      database.url,
      `SELECT has_table_privilege('public', 'users', 'SELECT') AS public_reads_users,
              has_table_privilege($1, 'products', 'SELECT') AS app_reads_products`,
      [APP_ROLE],
    );
    expect(effect).toEqual({ public_reads_users: false, app_reads_products: true });
  });

  test('the app role can read and write every table the app uses, and only read the migration history', async () => {
    // has_table_privilege with a list is true when ANY of them is held: ask for each.
    const privileges = await query<{ table: string; reads: boolean; writes: string[] }>(
      database.url,
      `SELECT c.relname AS table, has_table_privilege($1, c.oid, 'SELECT') AS reads,
              array_remove(ARRAY[
                CASE WHEN has_table_privilege($1, c.oid, 'INSERT') THEN 'INSERT' END,
                CASE WHEN has_table_privilege($1, c.oid, 'UPDATE') THEN 'UPDATE' END,
                CASE WHEN has_table_privilege($1, c.oid, 'DELETE') THEN 'DELETE' END], NULL) AS writes
         FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' ORDER BY 1`,
      [appUser],
    );
    expect(privileges.length).toBeGreaterThanOrEqual(5);
    for (const { table, reads, writes } of privileges) {
      const expected = table === 'schema_migrations' ? [] : ['INSERT', 'UPDATE', 'DELETE'];
      expect({ table, reads, writes }).toEqual({ table, reads: true, writes: expected });
    }
    // And it really does: a full write path as the app user, in one transaction it rolls back.
    const client = new Client({ connectionString: appUrl });
    await client.connect();
    try {
      await client.query('BEGIN');
      await client.query(
        `INSERT INTO users (id, email, name, password_hash) VALUES ('018f0000-0000-7000-8000-000000000001', 'a@b.c', 'A', 'x')`,
      );
      await client.query(
        `INSERT INTO orders (id, user_id, total_cents) VALUES ('018f0000-0000-7000-8000-000000000002', '018f0000-0000-7000-8000-000000000001', 5)`,
      );
      await client.query(`UPDATE orders SET status = 'cancelled'`);
      await client.query('DELETE FROM orders');
      const { rows } = await client.query('SELECT count(*)::int AS n FROM users');
      expect(rows[0].n).toBe(1);
    } finally {
      await client.query('ROLLBACK');
      await client.end();
    }
  });

  test("a later migration's tables and sequences are covered by the default privileges, and owned by the owner", async () => {
    // WHEN a later migration (run as any login that may act as the owner) adds a table with an identity
    // column and a standalone sequence
    const owner = new PgDatabase({ writer: { connectionString: database.url } });
    try {
      const later = {
        version: 990,
        name: 'later_table',
        sql: `CREATE TABLE later_things (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text NOT NULL);
              CREATE SEQUENCE later_numbers;`,
      };
      expect(await runMigrations(owner, [...(await loadMigrations()), later])).toEqual([990]);
    } finally {
      await owner.close();
    }
    // THEN the app can use them without any GRANT in the migration, and still cannot drop them
    const [row] = await query<{ id: string; n: string }>(
      appUrl,
      `WITH ins AS (INSERT INTO later_things (note) VALUES ('x') RETURNING id)
       SELECT (SELECT id FROM ins) AS id, nextval('later_numbers') AS n`,
    );
    expect(row).toEqual({ id: '1', n: '1' });
    expect(await sqlStateOf(appUrl, "UPDATE later_things SET note = 'y'")).toBe('ok');
    expect(await sqlStateOf(appUrl, 'DELETE FROM later_things')).toBe('ok');
    expect(await sqlStateOf(appUrl, 'DROP TABLE later_things')).toBe(DENIED);
    expect(await sqlStateOf(appUrl, 'ALTER SEQUENCE later_numbers RESTART')).toBe(DENIED);
    const owners = await query<{ owner: string }>(
      database.url,
      "SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE relname LIKE 'later_%'",
    );
    expect(owners).toEqual([{ owner: OWNER_ROLE }]);
  });

  test('migrating again changes nothing and leaves the app login alone', async () => {
    const again = await migrateDatabase(
      testConfig({ DATABASE_URL: appUrl, MIGRATION_DATABASE_URL: database.url }),
    );
    expect(again).toEqual({ applied: [], appLogin: { username: appUser, outcome: 'unchanged' } });
  });

  test('with AUTO_MIGRATE on, the app role finds nothing pending and starts without any DDL right', async () => {
    const app = await buildApp({ config: testConfig({ DATABASE_URL: appUrl }), logger: false });
    try {
      expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
      expect((await app.inject({ method: 'GET', url: '/api/products?limit=1' })).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });

  test("the migrator refuses to hand the app a privileged user (the master's secret given to the app)", async () => {
    const superuser = new URL(database.url).username;
    await expect(
      migrateDatabase(testConfig({ DATABASE_URL: database.url, MIGRATION_DATABASE_URL: database.url })),
    ).rejects.toThrow(
      `The app's database user "${superuser}" is a superuser, CREATEROLE, CREATEDB, BYPASSRLS, the user migrations log in as, a member of ${OWNER_ROLE}`,
    );
  });
});

describe('an RDS-like master: CREATEROLE and database owner, not a superuser', () => {
  const master = uniqueRoleName('rds_master_test');
  const appUser = uniqueRoleName('shop_app_test');
  let database: TestDatabase;

  afterAll(async () => {
    await database?.drop();
    await dropRoles(TEST_PG_ADMIN_URL, [appUser, master]);
  });

  test('migrates a fresh database as the owner and provisions the app login', async () => {
    // GIVEN a master user like Aurora's (rds_superuser has CREATEROLE, not SUPERUSER) owning the database
    await query(TEST_PG_ADMIN_URL, `CREATE ROLE ${master} LOGIN CREATEROLE`);
    database = await createTestDatabase();
    await query(TEST_PG_ADMIN_URL, `ALTER DATABASE ${database.name} OWNER TO ${master}`);
    const masterUrl = loginUrl(database.url, master);
    const appUrl = loginUrl(database.url, appUser);

    // WHEN the migration task runs as the master
    const result = await migrateDatabase(
      testConfig({ DATABASE_URL: appUrl, MIGRATION_DATABASE_URL: masterUrl }),
    );

    // THEN it applied everything, tables belong to the owner role, and the app can write but not DROP
    expect(result.applied).toEqual((await loadMigrations()).map((m) => m.version));
    expect(result.appLogin).toEqual({ username: appUser, outcome: 'created' });
    const owners = await query<{ owner: string }>(
      database.url,
      "SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'",
    );
    expect(owners).toEqual([{ owner: OWNER_ROLE }]);
    expect(
      await sqlStateOf(
        appUrl,
        "INSERT INTO products (id, sku, name, price_cents, stock) VALUES (gen_random_uuid(), 's', 'n', 1, 1)",
      ),
    ).toBe('ok');
    expect(await sqlStateOf(appUrl, 'DROP TABLE products')).toBe(DENIED);
    // AND a later migration by the same master runs as the owner role
    const later = { version: 991, name: 'later', sql: 'CREATE TABLE later_by_master (a int)' };
    const db = new PgDatabase({ writer: { connectionString: masterUrl } });
    try {
      expect(await runMigrations(db, [...(await loadMigrations()), later])).toEqual([991]);
    } finally {
      await db.close();
    }
    expect(await sqlStateOf(appUrl, 'INSERT INTO later_by_master VALUES (1)')).toBe('ok');
  });
});

test('start-up without AUTO_MIGRATE refuses a database that lacks migrations, naming them', async () => {
  const fresh = await createTestDatabase();
  try {
    await expect(
      buildApp({ config: testConfig({ DATABASE_URL: fresh.url, AUTO_MIGRATE: 'false' }), logger: false }),
    ).rejects.toThrow(
      /The database lacks migrations 1_catalog, 2_users_orders, 3_roles.*: run the migration task \(npm run migrate\)/,
    );
  } finally {
    await fresh.drop();
  }
});

test('PGlite, the embedded default, applies the same migrations and owner role', async () => {
  const db = await PgliteDatabase.create({});
  try {
    expect(await runMigrations(db)).toEqual((await loadMigrations()).map((m) => m.version));
    const { rows } = await db.query<{ owner: string }>(
      "SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'",
    );
    expect(rows).toEqual([{ owner: OWNER_ROLE }]);
  } finally {
    await db.close();
  }
  // Generous: PGlite's start (WebAssembly, initdb) takes tens of seconds on a busy two-core machine.
}, 180_000);

describe('in AWS shape, on a fresh server that checks passwords', () => {
  const APP_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-app-AbCdEf';
  const OWNER_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-master-GhIjKl';
  let server: PasswordPostgres;
  let admin: Client;
  let secrets: FakeSecrets;
  const open: Database[] = [];

  /** The environment the service's task definition gives the app, plus the owner's secret for the migrator. */
  const env = (database: string) => ({
    DB_HOST: '127.0.0.1',
    DB_PORT: String(server.port),
    DB_NAME: database,
    DB_SECRET_ARN: APP_SECRET,
  });

  /** A new app instance (a new task): reads the app secret afresh. */
  async function appInstance(database = 'shop'): Promise<Database> {
    const db = await createDatabase(loadConfig(env(database)).database, undefined, 'shop-test', secrets);
    open.push(db);
    return db;
  }

  async function whoAmI(db: Database): Promise<string> {
    // Several at once, so that new connections log in, not only the one idle in the pool.
    const users = await Promise.all(
      Array.from({ length: 3 }, () =>
        db.query<{ user: string }>('SELECT current_user AS user, pg_sleep(0.05)').then((r) => r.rows[0].user),
      ),
    );
    expect(new Set(users).size).toBe(1);
    await db.query('SELECT count(*) FROM products');
    return users[0];
  }

  async function dropConnectionsOf(...users: string[]): Promise<void> {
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ANY($1)', [
      users,
    ]);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }

  beforeAll(async () => {
    server = await startPasswordPostgres();
    admin = new Client({ connectionString: server.adminUrl });
    await admin.connect();
    secrets = new FakeSecrets({
      [OWNER_SECRET]: { current: { username: 'postgres', password: 'admin-secret' } },
      [APP_SECRET]: { current: { username: 'shop_app_user', password: 'app-password-1' } },
    });
    await admin.query('CREATE DATABASE shop');
  }, 120_000);

  afterAll(async () => {
    await Promise.all(open.map((db) => db.close()));
    await admin?.end();
    server?.stop();
  });

  test('several databases of one fresh server migrate at once: the cluster-global roles are made once', async () => {
    for (const name of ['race_a', 'race_b', 'race_c', 'race_d']) await admin.query(`CREATE DATABASE ${name}`);
    const versions = (await loadMigrations()).map((m) => m.version);
    const results = await Promise.all(
      ['race_a', 'race_b', 'race_c', 'race_d'].map((name) =>
        migrateDatabase(
          loadConfig({ ...env(name), DB_MIGRATION_SECRET_ARN: OWNER_SECRET }, { migrator: true }),
          {
            secretsClient: secrets,
          },
        ),
      ),
    );
    expect(results.map((r) => r.applied)).toEqual(Array(4).fill(versions));
    const { rows } = await admin.query(
      `SELECT rolname FROM pg_roles WHERE rolname IN ($1, $2, 'shop_app_user') ORDER BY rolname::text COLLATE "C"`,
      [APP_ROLE, OWNER_ROLE],
    );
    expect(rows.map((r) => r.rolname)).toEqual([APP_ROLE, 'shop_app_user', OWNER_ROLE].sort());
  });

  test('the migration task logs in with the owner secret and creates the app user from the app secret', async () => {
    // WHEN the migration task runs with the service's environment plus the owner's secret
    const result = await migrateDatabase(
      loadConfig(
        { ...env('shop'), NODE_ENV: 'production', DB_MIGRATION_SECRET_ARN: OWNER_SECRET },
        {
          migrator: true,
          requireSessionSecret: false,
        },
      ),
      { secretsClient: secrets },
    );
    // (the user exists already: the race test made it for the other databases of this server)
    expect(result.appLogin).toEqual({ username: 'shop_app_user', outcome: 'unchanged' });

    // THEN the app logs in with the app secret's password, as that user, and reads and writes
    const db = await appInstance();
    expect(await whoAmI(db)).toBe('shop_app_user');
    // AND the password was stored as a SCRAM verifier, never sent in clear
    const { rows } = await admin.query("SELECT rolpassword FROM pg_authid WHERE rolname = 'shop_app_user'");
    expect(rows[0].rolpassword).toMatch(/^SCRAM-SHA-256\$4096:/);
  });

  test('alternating-users rotation, step by step as the AWS rotation function does it', async () => {
    const running = await appInstance();
    expect(await whoAmI(running)).toBe('shop_app_user');
    const app = secrets.get(APP_SECRET);
    const requests = () => secrets.requests.filter((r) => r.startsWith(APP_SECRET)).length;

    // Rotation 1: the function (as the master) clones the user, then promotes the clone's value.
    await admin.query(
      `CREATE ROLE shop_app_user_clone WITH LOGIN PASSWORD '${scramSha256Verifier('clone-password-1')}'`,
    );
    await admin.query('GRANT shop_app_user TO shop_app_user_clone');
    app.previous = app.current;
    app.current = { username: 'shop_app_user_clone', password: 'clone-password-1' };
    // The running instance keeps its user (still valid); a new instance logs in as the clone, with the
    // privileges the clone inherits, and no more.
    let before = requests();
    await dropConnectionsOf('shop_app_user');
    expect(await whoAmI(running)).toBe('shop_app_user');
    expect(requests()).toBe(before);
    const fresh = await appInstance();
    expect(await whoAmI(fresh)).toBe('shop_app_user_clone');
    await expect(fresh.query('DROP TABLE products')).rejects.toMatchObject({ code: DENIED });

    // Rotation 2: the original user's password changes; the instance that still uses it refreshes once.
    await admin.query(`ALTER ROLE shop_app_user PASSWORD '${scramSha256Verifier('app-password-2')}'`);
    app.previous = app.current;
    app.current = { username: 'shop_app_user', password: 'app-password-2' };
    before = requests();
    await dropConnectionsOf('shop_app_user', 'shop_app_user_clone');
    expect(await whoAmI(running)).toBe('shop_app_user');
    expect(requests()).toBe(before + 1);
    // The clone's password did not change: the instance on the clone needs nothing.
    before = requests();
    expect(await whoAmI(fresh)).toBe('shop_app_user_clone');
    expect(requests()).toBe(before);

    // Rotation 3: now the clone's password changes; that instance follows AWSCURRENT back to the clone.
    await admin.query(`ALTER ROLE shop_app_user_clone PASSWORD '${scramSha256Verifier('clone-password-3')}'`);
    app.previous = app.current;
    app.current = { username: 'shop_app_user_clone', password: 'clone-password-3' };
    await dropConnectionsOf('shop_app_user', 'shop_app_user_clone');
    expect(await whoAmI(fresh)).toBe('shop_app_user_clone');
    expect(await whoAmI(running)).toBe('shop_app_user');
  });

  test('a new instance whose AWSCURRENT is refused (RDS Proxy not yet caught up) logs in with AWSPREVIOUS', async () => {
    const app = secrets.get(APP_SECRET);
    // AWSCURRENT names a user the server refuses with SQLSTATE 28000, as RDS Proxy refuses a user it has no
    // credentials for (here: a role that may not log in); AWSPREVIOUS is the other, still valid, user.
    await admin.query(
      `CREATE ROLE shop_app_user_next NOLOGIN PASSWORD '${scramSha256Verifier('not-yet-known')}'`,
    );
    const refused = new Client({
      host: '127.0.0.1',
      port: server.port,
      database: 'shop',
      user: 'shop_app_user_next',
      password: 'not-yet-known',
    });
    await expect(refused.connect()).rejects.toMatchObject({ code: '28000' });
    app.previous = { username: 'shop_app_user', password: 'app-password-2' };
    app.current = { username: 'shop_app_user_next', password: 'not-yet-known' };
    secrets.requests.length = 0;
    const db = await appInstance();
    expect(await whoAmI(db)).toBe('shop_app_user');
    expect(secrets.requests).toEqual([
      `${APP_SECRET} AWSCURRENT`,
      `${APP_SECRET} AWSCURRENT`,
      `${APP_SECRET} AWSPENDING`,
      `${APP_SECRET} AWSPREVIOUS`,
    ]);
  });
});
