import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import fastifyCookie from '@fastify/cookie';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifySession, { type SessionStore } from '@fastify/session';
import fastifyStatic from '@fastify/static';
import Ajv, { type ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type Redis from 'ioredis';
import { Cache } from './cache/cache';
import type { CacheStore } from './cache/cache-store';
import { ReplicaInvalidation } from './cache/replica-invalidation';
import { MemoryCacheStore } from './cache/memory-cache-store';
import { NoCacheStore } from './cache/no-cache-store';
import { RedisCacheStore } from './cache/redis-cache-store';
import { loadConfig, type AppConfig } from './config';
import type { ShopContext } from './context';
import { createDatabase } from './db/create-database';
import type { Database, QueryObserver } from './db/database';
import { migrateDatabase } from './db/migrate-database';
import { pendingMigrations } from './db/migrations';
import { seedDemoCatalog } from './db/seed';
import { HttpError } from './errors';
import { AppMetrics } from './metrics';
import { publicDir } from './paths';
import { ReadRouter } from './read-routing';
import { connectRedis, createRedisClient } from './redis';
import { CatalogRepository } from './repositories/catalog-repository';
import { OrderRepository } from './repositories/order-repository';
import { UserRepository } from './repositories/user-repository';
import { orderRoutes } from './routes/orders';
import { opsRoutes } from './routes/ops';
import { productRoutes } from './routes/products';
import { sessionRoutes } from './routes/sessions';
import { userRoutes } from './routes/users';
import { errorSchema } from './schemas/common';
import { MemorySessionStore, RedisSessionStore } from './sessions/session-stores';

/** Options of {@link buildApp}; everything defaults from the validated environment. */
export interface BuildAppOptions {
  /** @default - loadConfig(process.env) */
  config?: AppConfig;
  /**
   * A database to use instead of opening one from the config: an open one (the app does not close it), or
   * a factory given the app's query observer (the app closes what it returns).
   */
  database?: Database | ((observe: QueryObserver) => Promise<Database>);
  /** Logger settings, or false for none. @default - JSON logs at LOG_LEVEL */
  logger?: FastifyServerOptions['logger'];
  /** application_name of the app's Postgres connections. @default 'shop' */
  applicationName?: string;
}

// Two validators: bodies are strict (no type coercion: `"5"` is not a quantity), query strings and path
// parameters are text by nature and coerced. Unknown fields are rejected, never silently dropped.
function createValidators() {
  const strict = new Ajv({
    coerceTypes: false,
    useDefaults: true,
    removeAdditional: false,
    allErrors: false,
  });
  const coercing = new Ajv({
    coerceTypes: 'array',
    useDefaults: true,
    removeAdditional: false,
    allErrors: false,
  });
  addFormats(strict);
  addFormats(coercing);
  return { strict, coercing };
}

/** "body/items/0/quantity must be >= 1", "body/color is not allowed": always the field's path. */
function formatValidationErrors(errors: ErrorObject[], dataVar: string): Error {
  const messages = errors.map((error) => {
    const at = `${dataVar}${error.instancePath}`;
    if (error.keyword === 'additionalProperties') {
      return `${at}/${(error.params as { additionalProperty: string }).additionalProperty} is not allowed (unknown field)`;
    }
    if (error.keyword === 'required') {
      return `${at}/${(error.params as { missingProperty: string }).missingProperty} is required`;
    }
    return `${at} ${error.message}`;
  });
  return new Error(messages.join('; '));
}

async function openCacheStore(config: AppConfig, redis: Redis | undefined): Promise<CacheStore> {
  if (config.cacheStore === 'redis' && redis && config.redis)
    return new RedisCacheStore(redis, config.redis.keyPrefix);
  if (config.cacheStore === 'none') return new NoCacheStore();
  return new MemoryCacheStore();
}

function openSessionStore(config: AppConfig, redis: Redis | undefined): SessionStore {
  if (config.sessionStore === 'redis' && redis && config.redis) {
    return new RedisSessionStore(redis, config.redis.keyPrefix, config.sessionTtlSeconds);
  }
  return new MemorySessionStore(config.sessionTtlSeconds);
}

/**
 * Builds the shop: adapters chosen by the configuration (PGlite or pg, in-process or Redis), migrations
 * and demo data when configured, every route, metrics and graceful close of every pool.
 */
export async function buildApp(options: BuildAppOptions = {}): Promise<FastifyInstance> {
  const config = options.config ?? loadConfig(process.env);
  const metrics = new AppMetrics();
  const validators = createValidators();

  const app = Fastify({
    logger: options.logger ?? {
      level: config.logLevel,
      redact: ['req.headers.cookie', 'req.headers.authorization', 'res.headers["set-cookie"]'],
    },
    bodyLimit: config.bodyLimitBytes,
    // Trust exactly `trustProxy` hops of X-Forwarded-For (the ALB), so clients cannot spoof their address.
    trustProxy:
      config.trustProxy === false
        ? false
        : (_address: string, hop: number) => hop < (config.trustProxy as number),
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    schemaErrorFormatter: formatValidationErrors,
  });
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? validators.strict : validators.coercing).compile(schema),
  );

  const usesRedis = config.redis && (config.cacheStore === 'redis' || config.sessionStore === 'redis');
  let redis: Redis | undefined;
  if (usesRedis && config.redis) {
    redis = createRedisClient(config.redis);
    // Keep the client's connection errors in the log instead of crashing the process.
    redis.on('error', (err) => app.log.warn({ err: err.message }, 'redis connection error'));
    if (!(await connectRedis(redis))) app.log.warn('redis unreachable at start-up; cache runs degraded');
  }

  const ownsDatabase = typeof options.database !== 'object';
  const observe: QueryObserver = (pool) => metrics.dbQueries.inc({ pool });
  let db: Database;
  try {
    if (typeof options.database === 'function') db = await options.database(observe);
    else if (options.database) db = options.database;
    else db = await createDatabase(config.database, observe, options.applicationName);
  } catch (err) {
    redis?.disconnect();
    throw err;
  }

  const closeResources = async () => {
    // Close everything even when one step fails; report the first failure.
    const results = await Promise.allSettled([ownsDatabase ? db.close() : undefined, cacheStore?.close()]);
    redis?.disconnect();
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) app.log.error({ err: failed.reason }, 'error while closing pools');
    else app.log.info('database pools and cache connections closed');
  };
  let cacheStore: CacheStore | undefined;
  try {
    if (config.autoMigrate) {
      // As the migration task would: with the owner's connection when one is configured, else on this one.
      const { applied, appLogin } = await migrateDatabase(config, { database: db });
      if (applied.length > 0) app.log.info({ applied }, 'migrations applied');
      if (appLogin && appLogin.outcome !== 'unchanged')
        app.log.info({ appLogin }, 'app database login ready');
    } else {
      // Refuse to serve on a schema older than this build (the migration task did not run, or failed): every
      // request touching the missing parts would fail. A newer schema is fine (expand, then contract).
      const pending = await pendingMigrations(db);
      if (pending.length > 0) {
        throw new Error(
          `The database lacks migrations ${pending.map((m) => `${m.version}_${m.name}`).join(', ')}: run the ` +
            'migration task (npm run migrate) before starting the app, or set AUTO_MIGRATE=true',
        );
      }
    }
    if (config.seedDemoData) {
      const seeded = await seedDemoCatalog(db);
      if (seeded > 0) app.log.info({ products: seeded }, 'demo catalog seeded');
    }
    cacheStore = await openCacheStore(config, redis);
  } catch (err) {
    await closeResources();
    throw err;
  }

  const cache = new Cache(cacheStore, { ttlSeconds: config.cacheTtlSeconds, metrics, logger: app.log });
  const replicaInvalidation = new ReplicaInvalidation(cache, db, {
    maxWaitMs: config.readYourWritesWindowMs,
  });
  const shop: ShopContext = {
    config,
    db,
    cache,
    replicaInvalidation,
    reads: new ReadRouter(db, config.readYourWritesWindowMs),
    metrics,
    catalog: new CatalogRepository(),
    users: new UserRepository(),
    orders: new OrderRepository(),
  };
  app.decorate('shop', shop);
  app.addSchema(errorSchema);
  app.addHook('onClose', async () => {
    replicaInvalidation.close();
    await closeResources();
  });

  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    metrics.httpDuration.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status_code: reply.statusCode,
      },
      reply.elapsedTime / 1000,
    );
  });

  app.setErrorHandler((error: Error & { statusCode?: number; validation?: unknown }, request, reply) => {
    const status =
      error instanceof HttpError || (error.statusCode && error.statusCode >= 400 && error.statusCode < 500)
        ? (error.statusCode as number)
        : 500;
    if (error instanceof HttpError && status >= 500) {
      // A dependency outage with a message written for clients (e.g. the session store is down).
      request.log.error({ err: error.cause ?? error }, error.message);
      return reply
        .code(status)
        .send({ statusCode: status, error: STATUS_CODES[status] ?? 'Error', message: error.message });
    }
    if (status >= 500) {
      // The client gets the request id to quote, never the error itself.
      request.log.error({ err: error }, 'request failed');
      return reply.code(500).send({
        statusCode: 500,
        error: 'Internal Server Error',
        message: `something went wrong; quote request id ${request.id}`,
      });
    }
    if (status === 429) request.log.warn({ ip: request.ip, url: request.url }, 'rate limited');
    return reply
      .code(status)
      .send({ statusCode: status, error: STATUS_CODES[status] ?? 'Error', message: error.message });
  });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({
      statusCode: 404,
      error: 'Not Found',
      message: `no route for ${request.method} ${request.url.split('?')[0]}`,
    });
  });

  await app.register(fastifyCookie);
  await app.register(fastifySession, {
    secret: config.sessionSecret ?? randomBytes(32).toString('hex'),
    cookieName: 'sid',
    cookie: {
      httpOnly: true,
      secure: config.production,
      sameSite: 'lax',
      path: '/',
      maxAge: config.sessionTtlSeconds * 1000,
    },
    saveUninitialized: false,
    store: openSessionStore(config, redis),
  });
  await app.register(fastifyRateLimit, {
    global: false,
    // Shared counters across instances when Redis is there; a Redis failure lets requests through.
    ...(redis && config.redis ? { redis, nameSpace: `${config.redis.keyPrefix}rl:` } : {}),
    skipOnError: true,
  });

  const authLimit = { max: config.rateLimitAuth.max, timeWindow: config.rateLimitAuth.windowMs };
  await app.register(opsRoutes);
  await app.register(userRoutes, { rateLimit: authLimit });
  await app.register(sessionRoutes, { rateLimit: authLimit });
  await app.register(productRoutes);
  await app.register(orderRoutes);
  if (existsSync(publicDir)) {
    await app.register(fastifyStatic, { root: publicDir, index: 'index.html', wildcard: true });
  }
  return app;
}
