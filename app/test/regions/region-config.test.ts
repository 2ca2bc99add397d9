import { ConfigError, loadConfig } from '../../src/config';

// The variables lib/ gives a secondary region's task (CONTRACT-global.md): replica endpoints for writer and
// reader, the regional cache, the read-only session replica.
const secondaryEnv = {
  NODE_ENV: 'production',
  REGION_ROLE: 'secondary',
  HOME_REGION: 'us-east-1',
  DB_HOST: 'reader.eu-west-1.example',
  DB_READER_HOST: 'reader.eu-west-1.example',
  DB_NAME: 'shop',
  DB_USER: 'shop_app',
  REDIS_HOST: 'cache.eu-west-1.example',
  REDIS_TLS: 'true',
  REDIS_AUTH_TOKEN: 'token-token-token-token',
  SESSION_REDIS_HOST: 'sessions.eu-west-1.example',
  SESSION_REDIS_PORT: '6380',
  SESSION_SECRET: 'a-session-secret-of-32-characters!!',
};

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('region role configuration', () => {
  test('unset: a single region, sessions on the cache Redis, follower defaults', () => {
    const config = loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379' });
    expect(config.region).toEqual({
      role: 'single',
      follower: { pollMs: 150, gapGraceMs: 300_000, settleMs: 1000 },
    });
  });

  test('secondary: session replica with the cache AUTH/TLS and key prefix, no migrations, no seed', () => {
    const config = loadConfig(secondaryEnv);
    expect(config.region).toMatchObject({
      role: 'secondary',
      homeRegion: 'us-east-1',
      sessionRedis: {
        host: 'sessions.eu-west-1.example',
        port: 6380,
        tls: true,
        password: 'token-token-token-token',
        keyPrefix: 'shop:',
      },
    });
    expect(config.autoMigrate).toBe(false);
    expect(config.seedDemoData).toBe(false);
    expect(config.sessionStore).toBe('redis');
  });

  test('home: HOME_REGION and an optional session store of its own', () => {
    const config = loadConfig({
      REGION_ROLE: 'home',
      HOME_REGION: 'us-east-1',
      REDIS_URL: 'redis://cache:6379',
      SESSION_REDIS_URL: 'rediss://sessions:6379',
    });
    expect(config.region).toMatchObject({
      role: 'home',
      homeRegion: 'us-east-1',
      sessionRedis: { url: 'rediss://sessions:6379' },
    });
  });

  test('fails when a role has no HOME_REGION, or HOME_REGION has no role', () => {
    expect(problemsOf({ REGION_ROLE: 'home' })).toEqual([
      expect.stringContaining('REGION_ROLE=home needs HOME_REGION'),
    ]);
    expect(problemsOf({ HOME_REGION: 'us-east-1' })).toEqual([
      expect.stringContaining('HOME_REGION is set without REGION_ROLE'),
    ]);
    expect(problemsOf({ REGION_ROLE: 'home', HOME_REGION: 'Virginia' })).toEqual([
      expect.stringContaining('HOME_REGION'),
    ]);
    expect(problemsOf({ REGION_ROLE: 'primary', HOME_REGION: 'us-east-1' })).toEqual([
      expect.stringContaining('REGION_ROLE'),
    ]);
  });

  test('fails when a secondary has no session replica, no Redis or no Postgres', () => {
    const problems = problemsOf({ REGION_ROLE: 'secondary', HOME_REGION: 'us-east-1' });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringContaining('REGION_ROLE=secondary needs DATABASE_URL or DB_HOST'),
        expect.stringContaining('REGION_ROLE=secondary needs REDIS_URL or REDIS_HOST'),
        expect.stringContaining('REGION_ROLE=secondary needs SESSION_REDIS_URL or SESSION_REDIS_HOST'),
      ]),
    );
  });

  test.each([
    [
      {
        INVALIDATION_QUEUE: 'sqs',
        INVALIDATION_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/inv',
      },
      'INVALIDATION_QUEUE=sqs',
    ],
    [
      { EVENT_BUS: 'eventbridge', EVENT_BUS_NAME: 'shop-events' },
      'EVENT_BUS is set with REGION_ROLE=secondary',
    ],
    [{ EVENT_BUS: 'redis' }, 'EVENT_BUS is set with REGION_ROLE=secondary'],
    [{ AUTO_MIGRATE: 'true' }, 'AUTO_MIGRATE=true with REGION_ROLE=secondary'],
    [{ SEED_DEMO_DATA: 'true' }, 'SEED_DEMO_DATA=true with REGION_ROLE=secondary'],
    [{ CACHE_STORE: 'memory', INVALIDATION_QUEUE: 'memory' }, 'CACHE_STORE=memory'],
  ])('fails when a secondary sets %j (it would write or publish)', (extra, message) => {
    expect(problemsOf({ ...secondaryEnv, ...extra })).toEqual(
      expect.arrayContaining([expect.stringContaining(message)]),
    );
  });

  test('fails when both session Redis forms are given, or with SESSION_STORE=memory', () => {
    expect(
      problemsOf({
        REDIS_URL: 'redis://cache:6379',
        SESSION_REDIS_URL: 'redis://s:6379',
        SESSION_REDIS_HOST: 's',
      }),
    ).toEqual([expect.stringContaining('SESSION_REDIS_URL and SESSION_REDIS_HOST are both set')]);
    expect(
      problemsOf({ REDIS_URL: 'redis://cache:6379', SESSION_STORE: 'memory', SESSION_REDIS_HOST: 's' }),
    ).toEqual([expect.stringContaining('SESSION_STORE is memory')]);
  });
});
