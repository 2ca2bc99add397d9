import { Client } from 'pg';
import { loadConfig } from '../src/config';
import { createDatabase } from '../src/db/create-database';
import { SecretsManagerCredentials } from '../src/db/credentials';
import type { Database } from '../src/db/database';
import { FakeSecrets, type FakeSecretStages } from './support/fake-secrets';
import { startPasswordPostgres, type PasswordPostgres } from './support/password-postgres';

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-db-AbCdEf';

/** A fake Secrets Manager holding the file's one secret, and that secret's stages (tests rotate them). */
function fakeSecrets(username: string, password: string): { secrets: FakeSecrets; stages: FakeSecretStages } {
  const secrets = new FakeSecrets({ [SECRET_ARN]: { current: { username, password } } });
  return { secrets, stages: secrets.get(SECRET_ARN) };
}

describe('SecretsManagerCredentials', () => {
  test('caches the secret; concurrent refreshes after one rejection cost one request', async () => {
    const { secrets, stages } = fakeSecrets('app', 'one');
    const credentials = new SecretsManagerCredentials({ secretArn: SECRET_ARN, client: secrets });
    expect(await credentials.get()).toEqual({ username: 'app', password: 'one' });
    expect(await credentials.get()).toEqual({ username: 'app', password: 'one' });
    expect(secrets.requests).toEqual(['AWSCURRENT']);

    stages.current = { username: 'app', password: 'two' };
    const seen = credentials.generation;
    await Promise.all([credentials.refresh(seen), credentials.refresh(seen), credentials.refresh(seen)]);
    // A connection that failed with the old password after the refresh finished retries without a new request.
    await credentials.refresh(seen);
    expect(secrets.requests).toEqual(['AWSCURRENT', 'AWSCURRENT']);
    expect(await credentials.get()).toEqual({ username: 'app', password: 'two' });
  });

  test('when AWSCURRENT is exactly what was refused: AWSPENDING, else AWSPREVIOUS (the other user)', async () => {
    const { secrets, stages } = fakeSecrets('app', 'one');
    const credentials = new SecretsManagerCredentials({ secretArn: SECRET_ARN, client: secrets });
    await credentials.get();
    // Alternating users, no rotation under way: the other user of AWSPREVIOUS.
    stages.previous = { username: 'app_clone', password: 'two' };
    await credentials.refresh(credentials.generation);
    expect(await credentials.get()).toEqual({ username: 'app_clone', password: 'two' });
    // AWSPREVIOUS refused in turn: AWSCURRENT differs from it, so AWSCURRENT again.
    await credentials.refresh(credentials.generation);
    expect(await credentials.get()).toEqual({ username: 'app', password: 'one' });
    // Single user, mid-rotation: AWSPENDING comes first.
    stages.pending = { username: 'app', password: 'three' };
    await credentials.refresh(credentials.generation);
    expect(await credentials.get()).toEqual({ username: 'app', password: 'three' });
    expect(secrets.requests).toEqual([
      'AWSCURRENT',
      ...['AWSCURRENT', 'AWSPENDING', 'AWSPREVIOUS'],
      'AWSCURRENT',
      ...['AWSCURRENT', 'AWSPENDING'],
    ]);
  });

  test('fails with a message naming the secret when it is not an RDS secret', async () => {
    const credentials = new SecretsManagerCredentials({
      secretArn: SECRET_ARN,
      client: { send: async () => ({ SecretString: 'plain text' }) },
    });
    await expect(credentials.get()).rejects.toThrow(
      `Secret ${SECRET_ARN} is not JSON with "username" and "password"`,
    );
  });
});

// One private server for the file: it checks passwords, unlike the machine's trust-auth one.
let server: PasswordPostgres;
let admin: Client;

beforeAll(async () => {
  server = await startPasswordPostgres();
  admin = new Client({ connectionString: server.adminUrl });
  await admin.connect();
}, 120_000);

afterAll(async () => {
  await admin?.end();
  server?.stop();
});

describe('pg adapter with DB_SECRET_ARN, against a PostgreSQL that checks passwords', () => {
  let secrets: FakeSecrets;
  let stages: FakeSecretStages;
  let db: Database;

  /** Closes the app's open connections, so the next queries must log in again. */
  async function dropAppConnections(): Promise<void> {
    await admin.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'rotating_user'",
    );
    // Give the pool a moment to see its idle connections close and discard them.
    await new Promise((resolve) => setTimeout(resolve, 200));
  }

  /** Five queries at once: five new connections, each logging in. */
  function queryConcurrently(): Promise<string[]> {
    return Promise.all(
      Array.from({ length: 5 }, () =>
        db
          .query<{ user: string }>('SELECT current_user AS user, pg_sleep(0.05)')
          .then(({ rows }) => rows[0].user),
      ),
    );
  }

  beforeAll(async () => {
    await admin.query("CREATE ROLE rotating_user LOGIN PASSWORD 'first-password'");
    ({ secrets, stages } = fakeSecrets('rotating_user', 'first-password'));
    const config = loadConfig({
      DB_HOST: '127.0.0.1',
      DB_PORT: String(server.port),
      DB_NAME: 'postgres',
      DB_SECRET_ARN: SECRET_ARN,
      DB_POOL_MAX: '5',
    });
    db = await createDatabase(config.database, undefined, 'shop-rotation-test', secrets);
  }, 120_000);

  afterAll(async () => {
    await db?.close();
  });

  test('logs in as the user and with the password of the secret', async () => {
    expect(await queryConcurrently()).toEqual(Array(5).fill('rotating_user'));
    expect(secrets.requests).toEqual(['AWSCURRENT']);
  });

  test('after a rotation, new connections succeed with no error reaching the caller and one refresh', async () => {
    // WHEN the password rotates (database first, then the secret, as the rotation function does)
    await admin.query("ALTER ROLE rotating_user PASSWORD 'second-password'");
    stages.current = { username: 'rotating_user', password: 'second-password' };
    secrets.requests.length = 0;
    await dropAppConnections();

    // THEN every query succeeds; the rejected log-ins led to exactly one request for the new secret
    expect(await queryConcurrently()).toEqual(Array(5).fill('rotating_user'));
    await db.transaction(async (tx) => tx.query('SELECT 1'));
    await db.ping();
    expect(secrets.requests).toEqual(['AWSCURRENT']);
  });

  test('mid-rotation (new password set, not yet AWSCURRENT) the pending value is used', async () => {
    await admin.query("ALTER ROLE rotating_user PASSWORD 'third-password'");
    stages.pending = { username: 'rotating_user', password: 'third-password' };
    secrets.requests.length = 0;
    await dropAppConnections();

    expect(await queryConcurrently()).toEqual(Array(5).fill('rotating_user'));
    expect(secrets.requests).toEqual(['AWSCURRENT', 'AWSPENDING']);
  });

  test('a password the secret cannot fix fails after one refresh, with SQLSTATE 28P01', async () => {
    await admin.query("ALTER ROLE rotating_user PASSWORD 'nobody-knows-this'");
    secrets.requests.length = 0;
    await dropAppConnections();

    // The cached (pending) password was rejected; AWSCURRENT differs from it, so it is tried, and rejected too.
    await expect(db.query('SELECT 1')).rejects.toMatchObject({ code: '28P01' });
    expect(secrets.requests).toEqual(['AWSCURRENT']);
  });
});
