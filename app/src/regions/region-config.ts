import type { RedisConfig } from '../config';

/**
 * The app's part in stage global (README "Regions (stage global)"): `single` (REGION_ROLE unset: one region, as
 * in every earlier stage), `home` (the region with the writers) or `secondary` (read-only: replicas only).
 */
export type RegionRole = 'single' | 'home' | 'secondary';

/** Environment variables of the region role (validated by the app's env schema). */
export interface RegionEnv {
  REGION_ROLE?: 'home' | 'secondary';
  HOME_REGION?: string;
  SESSION_REDIS_URL?: string;
  SESSION_REDIS_HOST?: string;
  SESSION_REDIS_PORT: number;
  REGION_FOLLOWER_POLL_MS: number;
  REGION_FOLLOWER_GAP_GRACE_MS: number;
  REGION_FOLLOWER_SETTLE_MS: number;
}

/** JSON schema of {@link RegionEnv}, merged into the app's env schema. */
export const regionEnvJsonSchema = {
  REGION_ROLE: { type: 'string', enum: ['home', 'secondary'] },
  // An AWS region code: us-east-1, eu-west-1, ap-southeast-2, us-gov-west-1.
  HOME_REGION: { type: 'string', pattern: '^[a-z]{2}(-[a-z]+)+-[0-9]+$' },
  SESSION_REDIS_URL: { type: 'string', pattern: '^rediss?://' },
  SESSION_REDIS_HOST: { type: 'string', minLength: 1 },
  SESSION_REDIS_PORT: { type: 'integer', minimum: 1, maximum: 65535, default: 6379 },
  REGION_FOLLOWER_POLL_MS: { type: 'integer', minimum: 20, maximum: 5000, default: 150 },
  REGION_FOLLOWER_GAP_GRACE_MS: { type: 'integer', minimum: 1000, maximum: 600000, default: 300000 },
  REGION_FOLLOWER_SETTLE_MS: { type: 'integer', minimum: 0, maximum: 60000, default: 1000 },
} as const;

/** The regional follower of a secondary region (see regions/outbox-follower.ts). */
export interface FollowerConfig {
  /** How often the follower reads each database's outbox on the region's replica (REGION_FOLLOWER_POLL_MS). */
  pollMs: number;
  /**
   * How long an outbox id missing between rows already seen is looked for before it counts as never committed
   * (REGION_FOLLOWER_GAP_GRACE_MS): longer than any write transaction plus the replica's lag.
   */
  gapGraceMs: number;
  /** Delay of the second application of each row's tags (REGION_FOLLOWER_SETTLE_MS; 0 = none). */
  settleMs: number;
}

/** How this process takes part in a multi-region deployment. */
export interface RegionConfig {
  role: RegionRole;
  /** HOME_REGION (both roles of stage global). */
  homeRegion?: string;
  /**
   * The session store when it is not the cache's Redis (SESSION_REDIS_URL / SESSION_REDIS_HOST): the global
   * datastore's primary in the home region, its read-only replica in a secondary region. AUTH and TLS as the
   * cache's (REDIS_AUTH_TOKEN, REDIS_TLS) and the same key prefix.
   */
  sessionRedis?: RedisConfig;
  follower: FollowerConfig;
}

/** What the rest of the configuration resolved, that the region checks need. */
export interface RegionContext {
  /** The cache's Redis (REDIS_URL / REDIS_HOST), if configured. */
  redis?: RedisConfig;
  database: 'pglite' | 'postgres';
  cacheStore: 'memory' | 'redis' | 'none';
  sessionStore: 'memory' | 'redis';
  /** The raw variables a secondary region must not set (they start writers, relays or publishers). */
  raw: {
    INVALIDATION_QUEUE?: string;
    INVALIDATION_QUEUE_URL?: string;
    EVENT_BUS?: string;
    EVENT_BUS_NAME?: string;
    EVENT_QUEUE_URL?: string;
    AUTO_MIGRATE?: boolean;
    SEED_DEMO_DATA?: boolean;
    MIGRATION_DATABASE_URL?: string;
    DB_MIGRATION_SECRET_ARN?: string;
  };
}

/**
 * Resolves REGION_ROLE, HOME_REGION, SESSION_REDIS_* and the follower's settings, pushing one message per problem
 * that names the variable and the fix.
 */
export function resolveRegionConfig(
  env: RegionEnv,
  context: RegionContext,
  problems: string[],
): RegionConfig {
  const role: RegionRole = env.REGION_ROLE ?? 'single';
  if (role !== 'single' && env.HOME_REGION === undefined)
    problems.push(
      `REGION_ROLE=${role} needs HOME_REGION, the home region's code (e.g. us-east-1): secondary regions name it ` +
        'in their 421 answer to writes',
    );
  if (role === 'single' && env.HOME_REGION !== undefined)
    problems.push('HOME_REGION is set without REGION_ROLE: set REGION_ROLE=home or secondary, or remove it');

  if (env.SESSION_REDIS_URL && env.SESSION_REDIS_HOST)
    problems.push('SESSION_REDIS_URL and SESSION_REDIS_HOST are both set: use one of them');
  let sessionRedis: RedisConfig | undefined;
  if (env.SESSION_REDIS_URL || env.SESSION_REDIS_HOST) {
    if (context.sessionStore !== 'redis')
      problems.push(
        'SESSION_REDIS_URL/SESSION_REDIS_HOST is set but SESSION_STORE is memory: leave SESSION_STORE unset or redis',
      );
    if (!context.redis)
      problems.push(
        'SESSION_REDIS_URL/SESSION_REDIS_HOST is set without REDIS_URL or REDIS_HOST: the cache Redis is needed too',
      );
    sessionRedis = {
      url: env.SESSION_REDIS_URL,
      host: env.SESSION_REDIS_HOST,
      port: env.SESSION_REDIS_PORT,
      // AUTH and TLS as the cache's: one replication group setting for both in the blueprint.
      tls: context.redis?.tls ?? false,
      password: context.redis?.password,
      // The same key prefix in every region, so a session written at home is found under the same key.
      keyPrefix: context.redis?.keyPrefix ?? 'shop:',
    };
  }

  if (role === 'secondary') {
    const writes = 'a secondary region has no writer and routes every write to the home region';
    if (context.database !== 'postgres')
      problems.push(
        "REGION_ROLE=secondary needs DATABASE_URL or DB_HOST: the region's read replica (writer host = reader host)",
      );
    if (!context.redis)
      problems.push(
        "REGION_ROLE=secondary needs REDIS_URL or REDIS_HOST: the regional cache (it also keeps the follower's cursor)",
      );
    if (context.cacheStore === 'memory')
      problems.push(
        'REGION_ROLE=secondary with CACHE_STORE=memory: the regional follower keeps the shared regional cache fresh; ' +
          'use CACHE_STORE=redis (or none)',
      );
    if (!sessionRedis)
      problems.push(
        'REGION_ROLE=secondary needs SESSION_REDIS_URL or SESSION_REDIS_HOST: the read-only replica of the home ' +
          "region's session store (sessions are written at home only)",
      );
    const raw = context.raw;
    if (raw.INVALIDATION_QUEUE === 'sqs' || raw.INVALIDATION_QUEUE_URL !== undefined)
      problems.push(
        'INVALIDATION_QUEUE=sqs / INVALIDATION_QUEUE_URL is set with REGION_ROLE=secondary: the regional follower ' +
          "applies invalidations from the replicated outbox and the home region's consumer owns the queue; remove them",
      );
    for (const name of ['EVENT_BUS', 'EVENT_BUS_NAME', 'EVENT_QUEUE_URL'] as const)
      if (raw[name] !== undefined)
        problems.push(
          `${name} is set with REGION_ROLE=secondary: domain events are published and consumed in the home region ` +
            `only (${writes}); remove it`,
        );
    if (raw.AUTO_MIGRATE === true)
      problems.push(`AUTO_MIGRATE=true with REGION_ROLE=secondary: ${writes}; migrations run at home only`);
    if (raw.SEED_DEMO_DATA === true)
      problems.push(`SEED_DEMO_DATA=true with REGION_ROLE=secondary: ${writes}; seed the home region`);
    if (raw.MIGRATION_DATABASE_URL !== undefined || raw.DB_MIGRATION_SECRET_ARN !== undefined)
      problems.push(
        `MIGRATION_DATABASE_URL / DB_MIGRATION_SECRET_ARN is set with REGION_ROLE=secondary: ${writes}; remove it`,
      );
  }

  return {
    role,
    ...(env.HOME_REGION !== undefined ? { homeRegion: env.HOME_REGION } : {}),
    ...(sessionRedis ? { sessionRedis } : {}),
    follower: {
      pollMs: env.REGION_FOLLOWER_POLL_MS,
      gapGraceMs: env.REGION_FOLLOWER_GAP_GRACE_MS,
      settleMs: env.REGION_FOLLOWER_SETTLE_MS,
    },
  };
}
