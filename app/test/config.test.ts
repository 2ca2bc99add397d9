import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ConfigError, loadConfig } from '../src/config';

const repoRoot = path.resolve(__dirname, '../..');

describe('loadConfig', () => {
  test('no variables: embedded PGlite, in-process cache and sessions, demo data, port 3000', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 3000,
      host: '0.0.0.0',
      database: { kind: 'pglite' },
      cacheStore: 'memory',
      sessionStore: 'memory',
      cacheTtlSeconds: 60,
      autoMigrate: true,
      seedDemoData: true,
      production: false,
      trustProxy: false,
    });
    expect(config.redis).toBeUndefined();
  });

  test('the variables the CDK stack passes: discrete DB_* with a reader, Redis with TLS, production', () => {
    const config = loadConfig({
      NODE_ENV: 'production',
      DB_HOST: 'writer.proxy.example',
      DB_READER_HOST: 'reader.proxy.example',
      DB_PORT: '5432',
      DB_NAME: 'shop',
      DB_USER: 'shop_app',
      DB_PASSWORD: 'secret',
      DB_SSL: 'verify-full',
      REDIS_HOST: 'redis.example',
      REDIS_PORT: '6380',
      REDIS_TLS: 'true',
      REDIS_AUTH_TOKEN: 'token',
      SESSION_SECRET: 'x'.repeat(32),
      ADMIN_EMAILS: 'Ops@Example.com, boss@example.com',
    });
    expect(config.database).toEqual({
      kind: 'postgres',
      writer: {
        host: 'writer.proxy.example',
        port: 5432,
        database: 'shop',
        user: 'shop_app',
        password: 'secret',
        ssl: { rejectUnauthorized: true },
      },
      reader: {
        host: 'reader.proxy.example',
        port: 5432,
        database: 'shop',
        user: 'shop_app',
        password: 'secret',
        ssl: { rejectUnauthorized: true },
      },
      poolMax: 10,
    });
    expect(config.redis).toMatchObject({ host: 'redis.example', port: 6380, tls: true, password: 'token' });
    expect(config.cacheStore).toBe('redis');
    expect(config.sessionStore).toBe('redis');
    expect(config.seedDemoData).toBe(false);
    expect(config.trustProxy).toBe(1);
    expect([...config.adminEmails]).toEqual(['ops@example.com', 'boss@example.com']);
  });

  test('URLs: DATABASE_URL alone means reads go to the writer', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://u@db:5432/shop', REDIS_URL: 'redis://cache:6379' });
    expect(config.database).toMatchObject({ kind: 'postgres', reader: undefined });
    expect(config.redis?.url).toBe('redis://cache:6379');
  });

  const bad: [string, Record<string, string>, RegExp][] = [
    ['PORT not a number', { PORT: 'abc' }, /PORT must be integer/],
    ['DB_SSL unknown', { DB_SSL: 'maybe' }, /DB_SSL must be equal to one of the allowed values/],
    ['DATABASE_URL not postgres', { DATABASE_URL: 'mysql://x' }, /DATABASE_URL must match pattern/],
    ['REDIS_TLS not boolean', { REDIS_TLS: 'sometimes' }, /REDIS_TLS must be boolean/],
    [
      'CACHE_STORE=redis without Redis',
      { CACHE_STORE: 'redis' },
      /CACHE_STORE=redis needs REDIS_URL or REDIS_HOST/,
    ],
    ['production without SESSION_SECRET', { NODE_ENV: 'production' }, /SESSION_SECRET is required/],
    ['short SESSION_SECRET', { SESSION_SECRET: 'short' }, /SESSION_SECRET must be at least 32 characters/],
    ['DB_HOST without DB_NAME', { DB_HOST: 'db', DB_USER: 'u' }, /DB_NAME is required when DB_HOST is set/],
    ['both URL and host', { DATABASE_URL: 'postgres://db/x', DB_HOST: 'db' }, /DATABASE_URL and DB_HOST/],
    ['bad admin email', { ADMIN_EMAILS: 'ops' }, /ADMIN_EMAILS contains an invalid email "ops"/],
  ];
  test.each(bad)('%s fails naming the variable', (_name, env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  test('every problem is reported at once', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', CACHE_STORE: 'redis' })).toThrow(
      'Invalid configuration: CACHE_STORE=redis needs REDIS_URL or REDIS_HOST; SESSION_SECRET is required when NODE_ENV=production',
    );
  });
});

test('the server started with a bad variable stops at once with a message naming it', () => {
  const result = spawnSync(path.join(repoRoot, 'node_modules/.bin/tsx'), ['app/src/server.ts'], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH, PORT: 'eighty', REDIS_PORT: '70000' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  expect(result.status).toBe(1);
  expect(result.stderr).toContain('Invalid configuration: PORT must be integer');
  expect(result.stderr).toContain('REDIS_PORT must be <= 65535');
  expect(result.stdout).not.toContain('listening');
});
