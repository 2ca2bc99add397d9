import { randomBytes, randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import fastifyCookie from '@fastify/cookie';
import fastifyRateLimit from '@fastify/rate-limit';
import Ajv, { type AnySchema, type ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifySchemaCompiler,
  type FastifyServerOptions,
} from 'fastify';
import type Redis from 'ioredis';
import { Cache } from './cache/cache';
import type { CacheStore } from './cache/cache-store';
import { ReplicaInvalidation } from './cache/replica-invalidation';
import { MemoryCacheStore } from './cache/memory-cache-store';
import { NoCacheStore } from './cache/no-cache-store';
import { RedisCacheStore } from './cache/redis-cache-store';
import { loadConfig, type AppConfig } from './config';
import { catalogCache, MAIN_OUTBOX, type ShopContext } from './context';
import { createDatabase } from './db/create-database';
import type { Database, QueryObserver } from './db/database';
import { migrateDatabase } from './db/migrate-database';
import { pendingMigrations } from './db/migrations';
import { seedDemoCatalog } from './db/seed';
import { HttpError, sendFrameworkError } from './errors';
import {
  InProcessEvictionBroadcast,
  RedisEvictionBroadcast,
  type EvictionBroadcast,
} from './invalidation/eviction-broadcast';
import { InvalidationPipeline } from './invalidation/invalidation-pipeline';
import { TieredCache } from './invalidation/tiered-cache';
import { MemoryMessageQueue } from './queue/memory-queue';
import type { MessageQueue } from './queue/message-queue';
import { RedisStreamQueue } from './queue/redis-stream-queue';
import { SqsMessageQueue } from './queue/sqs-queue';
import { eventBridgeClient, sqsClient } from './aws-clients';
import { AppMetrics } from './metrics';
import { createDomainEvents } from './events/domain-events';
import { EventBridgeInvalidationQueue } from './events/eventbridge-invalidation-queue';
import { invalidationSource } from './events/event-routes';
import { breakerRateLimitStore } from './rate-limit-store';
import { CrossDatabaseOrderPlacement, SingleStatementOrderPlacement } from './orders/order-placement';
import { ReservationReconciler } from './orders/reservation-reconciler';
import { ScatterGather } from './sharding/scatter-gather';
import { openUserDataRouter } from './sharding/shard-layout';
import { ShardUnavailableError } from './sharding/shard-map';
import { UserAccounts } from './sharding/user-accounts';
import type { UserDataRouter } from './sharding/user-data-router';
import { helmetHeaders, sendSecurityHeaders } from './security-headers';
import { registerClientAddress, withClientAddressLog } from './client-address';
import { buildInternalServer } from './services/internal-server';
import { connectRedis, createRedisClient } from './redis';
import { RedisBreaker, type RedisBreakerOptions } from './redis-breaker';
import { AdminReports } from './repositories/admin-reports';
import { CatalogRepository } from './repositories/catalog-repository';
import { OrderRepository } from './repositories/order-repository';
import { UserRepository } from './repositories/user-repository';
import { ROLE_CACHE_MAX_SECONDS, RoleReader } from './roles';
import { DependencyUnavailableError } from './services/service-client';
import {
  notFoundMessage,
  registerServiceRoutes,
  runsReservationReconciler,
  servicePlacement,
} from './services/service-wiring';
import { errorSchema } from './schemas/common';
import { addShopKeywords } from './schemas/keywords';
import { metricsSchema } from './schemas/ops';
import { registerLazySession } from './sessions/lazy-session';
import {
  MemorySessionStore,
  ReadOnlySessionStore,
  RedisSessionStore,
  type CheckedSessionStore,
} from './sessions/session-stores';
import { applyInvalidation } from './invalidation/invalidation-consumer';
import { OutboxFollower } from './regions/outbox-follower';
import { RegionalCacheStore } from './regions/regional-cache-store';
import { isReadOnlyWriteError, registerRegionRole, writesServedByHome } from './regions/region-role';

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * The Prometheus endpoint's own server (GET /metrics only), for the metrics port. Not listening until
     * the caller listens on it (server.ts); closed with the app.
     */
    metricsServer: FastifyInstance;
    /**
     * The internal API's own server (SERVICE=products only, else undefined), for INTERNAL_PORT: not listening
     * until the caller listens on it (server.ts); closed with the app.
     */
    internalServer: FastifyInstance | undefined;
  }
}

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
  /** Settings of the circuit breaker in front of Redis (tests shorten them). @default - see RedisBreaker */
  redisBreaker?: RedisBreakerOptions;
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
  addShopKeywords(strict);
  addShopKeywords(coercing);
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

async function openCacheStore(
  config: AppConfig,
  redis: Redis | undefined,
  breaker: RedisBreaker | undefined,
): Promise<CacheStore> {
  if (config.cacheStore === 'redis' && redis && config.redis)
    return new RedisCacheStore(redis, config.redis.keyPrefix, false, breaker);
  if (config.cacheStore === 'none') return new NoCacheStore();
  return new MemoryCacheStore();
}

function openQueue(config: AppConfig, redis: Redis | undefined): MessageQueue {
  const { queue, maxReceives, sqsQueueUrl } = config.invalidation;
  // A secondary region sends and consumes nothing (no relay, no consumer): a queue in process, never used.
  if (config.region.role === 'secondary') return new MemoryMessageQueue({ maxReceives });
  if (queue === 'sqs' && sqsQueueUrl) {
    const sqs = new SqsMessageQueue(sqsClient(), { queueUrl: sqsQueueUrl, maxReceives });
    // Stage 1m: invalidations ride the event bus (a rule routes them to this same queue).
    return config.events.bus === 'eventbridge' && config.events.busName
      ? new EventBridgeInvalidationQueue(sqs, eventBridgeClient(), {
          busName: config.events.busName,
          source: invalidationSource(config.events.service),
        })
      : sqs;
  }
  if (queue === 'redis' && redis && config.redis)
    return new RedisStreamQueue(redis, { prefix: config.redis.keyPrefix, name: 'invalidation', maxReceives });
  return new MemoryMessageQueue({ maxReceives });
}

function openSessionStore(
  config: AppConfig,
  redis: Redis | undefined,
  breaker: RedisBreaker | undefined,
  logger: FastifyInstance['log'],
): CheckedSessionStore {
  if (config.sessionStore === 'redis' && redis && config.redis) {
    const store = new RedisSessionStore(
      redis,
      (config.region.sessionRedis ?? config.redis).keyPrefix,
      config.sessionTtlSeconds,
      breaker,
    );
    // A secondary region reads the home region's sessions from a read-only replica and never writes one.
    return config.region.role === 'secondary' ? new ReadOnlySessionStore(store, logger) : store;
  }
  return new MemorySessionStore(config.sessionTtlSeconds);
}

/** How often each instance runs the reconciler. */
const RESERVATION_RECONCILE_MS = 30_000;

// What a client may set as its X-Request-Id: short, and only characters that are safe in a log line and a
// header. Anything else is replaced by a fresh id (never echoed, never logged).
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** The request id: the client's X-Request-Id when it is a safe, bounded token, else a new UUID. */
export function requestIdOf(header: string | string[] | undefined): string {
  return typeof header === 'string' && CLIENT_REQUEST_ID.test(header) ? header : randomUUID();
}

/**
 * The storefront's Content-Security-Policy, as the page's own `<meta>` states it, plus what only a header can
 * say (`frame-ancestors`: no site may frame the shop).
 */
export const contentSecurityPolicy = {
  defaultSrc: ["'none'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  connectSrc: ["'self'"],
  baseUri: ["'none'"],
  formAction: ["'none'"],
  frameAncestors: ["'none'"],
} as const;

/** The server for the metrics port: GET /metrics of `metrics`, and 404 for anything else. */
export function buildMetricsServer(metrics: AppMetrics): FastifyInstance {
  const server = Fastify({ logger: false, return503OnClosing: true, forceCloseConnections: true });
  server.get('/metrics', { schema: metricsSchema }, async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  return server;
}

/**
 * Builds the shop: adapters chosen by the configuration (PGlite or pg, in-process or Redis), migrations
 * and demo data when configured, every route, metrics and graceful close of every pool.
 */
export async function buildApp(options: BuildAppOptions = {}): Promise<FastifyInstance> {
  const config = options.config ?? loadConfig(process.env);
  const metrics = new AppMetrics();
  const validators = createValidators();

  const serverOptions = {
    bodyLimit: config.bodyLimitBytes,
    // The id comes from genReqId, which checks the client's header before it is logged or echoed.
    requestIdHeader: false,
    genReqId: (req: { headers: Record<string, string | string[] | undefined> }) =>
      requestIdOf(req.headers['x-request-id']),
    // Above the idle timeout of every proxy in front (ALB, Service Connect): KEEP_ALIVE_TIMEOUT_MS.
    keepAliveTimeout: config.keepAliveTimeoutMs,
    schemaErrorFormatter: formatValidationErrors,
  } as const;
  const securityHeaders = helmetHeaders({
    contentSecurityPolicy: { useDefaults: false, directives: contentSecurityPolicy },
    // HTTPS only in production (behind the ALB's TLS listener); a development server on http://localhost
    // must not pin the browser to HTTPS for that host.
    hsts: config.production ? { maxAge: 31_536_000, includeSubDomains: true } : false,
    referrerPolicy: { policy: 'strict-origin-when-cross-origin' },
    // For browsers that predate frame-ancestors.
    frameguard: { action: 'deny' },
  });
  const app = Fastify({
    // Log lines carry the client address rate limits use (CLIENT_IP_HEADER, client-address.ts).
    logger: withClientAddressLog(
      options.logger ?? {
        level: config.logLevel,
        redact: ['req.headers.cookie', 'req.headers.authorization', 'res.headers["set-cookie"]'],
      },
    ),
    ...serverOptions,
    // Trust exactly `trustProxy` hops of X-Forwarded-For (the ALB), so clients cannot spoof their address.
    trustProxy:
      config.trustProxy === false
        ? false
        : (_address: string, hop: number) => hop < (config.trustProxy as number),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // A URL fastify cannot decode (FST_ERR_BAD_URL, 400) is answered before routing, where no
    // hook runs: the security headers are set here, the request id by sendFrameworkError.
    frameworkErrors: (error, request, frameworkReply) => {
      const reply = frameworkReply as FastifyReply;
      reply.headers(securityHeaders);
      sendFrameworkError(error, request, reply);
    },
  });
  const validatorCompiler: FastifySchemaCompiler<AnySchema> = ({ schema, httpPart }) =>
    (httpPart === 'body' ? validators.strict : validators.coercing).compile(schema);
  app.setValidatorCompiler(validatorCompiler);
  // First of all hooks: a secondary region answers a write 421 before anything else runs (stage global).
  registerRegionRole(app, config);
  registerClientAddress(app, config.clientIpHeader);
  const secondary = config.region.role === 'secondary';

  const usesRedis =
    config.redis &&
    (config.cacheStore === 'redis' ||
      config.sessionStore === 'redis' ||
      config.invalidation.queue === 'redis' ||
      config.events.bus === 'redis');
  let redis: Redis | undefined;
  let redisBreaker: RedisBreaker | undefined;
  if (usesRedis && config.redis) {
    redis = createRedisClient(config.redis);
    redisBreaker = new RedisBreaker(options.redisBreaker);
    redisBreaker.onStateChange((state) =>
      (state === 'closed' ? app.log.info : app.log.warn).call(
        app.log,
        { breaker: state },
        state === 'open'
          ? 'redis is not answering: failing fast (cache from the database, sessions 503) until a probe succeeds'
          : `redis circuit breaker ${state}`,
      ),
    );
    // Keep the client's connection errors in the log instead of crashing the process.
    redis.on('error', (err) => app.log.warn({ err: err.message }, 'redis connection error'));
    if (!(await connectRedis(redis))) app.log.warn('redis unreachable at start-up; cache runs degraded');
  }
  // Stage global: sessions in a Redis of their own (the global datastore: its primary at home, a read-only
  // replica in a secondary region), behind the same breaker; the cache stays in the regional Redis.
  let sessionRedis: Redis | undefined;
  let sessionBreaker: RedisBreaker | undefined;
  if (redis && config.region.sessionRedis && config.sessionStore === 'redis') {
    sessionRedis = createRedisClient(config.region.sessionRedis);
    // A breaker of its own: the session store failing must not send cache reads to the database, nor the reverse.
    sessionBreaker = new RedisBreaker(options.redisBreaker);
    sessionRedis.on('error', (err) => app.log.warn({ err: err.message }, 'session redis connection error'));
    if (!(await connectRedis(sessionRedis)))
      app.log.warn('session redis unreachable at start-up; requests with a session answer 503 until it is');
  }
  if (config.sessionStore === 'redis' && !config.sessionSecret) {
    app.log.warn(
      'SESSION_SECRET is unset: sessions are shared in Redis but signed with a random secret of this process, ' +
        'so no other instance accepts them (and a restart logs everyone out); set the same SESSION_SECRET on every instance',
    );
  }
  if (config.production && !config.sessionCookieSecure) {
    app.log.warn(
      'SESSION_COOKIE_SECURE=false: the session cookie is not Secure, so it and every password travel in clear text ' +
        'over plain HTTP; serve HTTPS instead (README "Deploying a stage")',
    );
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
    sessionRedis?.disconnect();
    redisBreaker?.shutdown();
    sessionBreaker?.shutdown();
    throw err;
  }

  let userData: UserDataRouter | undefined;
  const closeResources = async () => {
    // Close everything even when one step fails; report the first failure.
    const results = await Promise.allSettled([
      userData?.close(),
      ownsDatabase ? db.close() : undefined,
      cacheStore?.close(),
      metricsServer.close(),
    ]);
    redis?.disconnect();
    sessionRedis?.disconnect();
    redisBreaker?.shutdown();
    sessionBreaker?.shutdown();
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) app.log.error({ err: failed.reason }, 'error while closing pools');
    else app.log.info('database pools and cache connections closed');
  };
  let cacheStore: CacheStore | undefined;
  const metricsServer = buildMetricsServer(metrics);
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
    userData = await openUserDataRouter({
      config,
      shard0: db,
      observe: () => observe,
      applicationName: options.applicationName,
      migrated: config.autoMigrate,
      onMapError: (err) =>
        app.log.error({ err: err.message }, 'shard map refresh failed; the last good map stays in use'),
    });
    if (config.seedDemoData) {
      const seeded = await seedDemoCatalog(db);
      if (seeded > 0) app.log.info({ products: seeded }, 'demo catalog seeded');
    }
    cacheStore = await openCacheStore(config, redis, redisBreaker);
    // Every entry of a secondary region's cache carries the tag its follower flushes everything with.
    if (secondary && cacheStore.kind === 'redis') cacheStore = new RegionalCacheStore(cacheStore);
  } catch (err) {
    await closeResources();
    throw err;
  }

  const cache = new Cache(cacheStore, { ttlSeconds: config.cacheTtlSeconds, metrics, logger: app.log });
  if (config.invalidation.queue === 'memory' && cacheStore.kind === 'redis') {
    app.log.warn(
      'INVALIDATION_QUEUE=memory with a Redis cache: events live in this process until applied, so one lost in a ' +
        'crash leaves Redis entries stale for up to CACHE_TTL_SECONDS; run one instance only, or set INVALIDATION_QUEUE=redis',
    );
  }
  // Evictions reach every instance's first level through Redis pub/sub when the cache is shared there.
  const broadcast: EvictionBroadcast =
    cacheStore.kind === 'redis' && redis && config.redis
      ? new RedisEvictionBroadcast(redis, config.redis.keyPrefix)
      : new InProcessEvictionBroadcast();
  const invalidation = new InvalidationPipeline({
    // Every database holding cached data has an outbox: shard 0 (catalog) and each other physical shard.
    sources: [
      { source: MAIN_OUTBOX, db },
      ...[...userData.shards.values()]
        .filter((shard) => shard.id !== '0')
        .map((shard) => ({ source: `shard-${shard.id}`, db: shard.db })),
    ].map((source) => ({ ...source, relay: { pollMs: config.outboxPollMs } })),
    queue: openQueue(config, redis),
    store: cacheStore,
    broadcast,
    firstLevel: {
      ttlMs: config.invalidation.firstLevelTtlMs,
      // lru-cache needs a bound of at least 1; with 0 the first level is not used at all (below).
      maxEntries: Math.max(1, config.invalidation.firstLevelMaxEntries),
    },
    metrics,
    logger: app.log,
  });
  // Caching off (the benchmark baseline) means no first level either; FIRST_LEVEL_CACHE_MAX_ENTRIES=0 turns
  // off only the first level (pages then come from the shared store, as before it existed).
  const pageCache =
    cacheStore.kind === 'none' || config.invalidation.firstLevelMaxEntries === 0
      ? cache
      : new TieredCache(
          cacheStore,
          { ttlSeconds: config.cacheTtlSeconds, metrics, logger: app.log },
          invalidation.firstLevel,
        );
  // The second invalidation after replica replay also evicts every instance's first level.
  const replicaInvalidation = new ReplicaInvalidation(
    {
      invalidateTags: async (tags) => {
        await pageCache.invalidateTags(tags);
        await broadcast.publish(tags).catch((err: Error) => {
          app.log.warn(
            { err: err.message },
            'eviction broadcast failed; first-level entries expire with their TTL',
          );
        });
      },
    },
    db,
    { maxWaitMs: config.readYourWritesWindowMs },
  );
  try {
    await invalidation.start({ relay: !secondary });
  } catch (err) {
    app.log.warn(
      { err: (err as Error).message },
      'eviction broadcast not subscribed; first-level entries here expire with their TTL',
    );
  }
  // A secondary region's regional follower: the replicated outbox of every database, applied to the regional
  // cache as the home region's consumer applies the queue (regions/outbox-follower.ts).
  const regionalStore = cacheStore;
  const follower =
    secondary && redis && config.redis && regionalStore.kind === 'redis'
      ? new OutboxFollower({
          sources: [...userData.shards.values()].map((shard) => ({
            source: shard.id === '0' ? MAIN_OUTBOX : `shard-${shard.id}`,
            reader: shard.db.reader,
          })),
          redis,
          keyPrefix: config.redis.keyPrefix,
          apply: (tags) => applyInvalidation({ store: regionalStore, broadcast }, tags),
          pollMs: config.region.follower.pollMs,
          gapGraceMs: config.region.follower.gapGraceMs,
          settleMs: config.region.follower.settleMs,
          logger: app.log,
        })
      : undefined;
  follower?.start();
  // Domain events (stage 1m): relays of every outbox database, and this SERVICE's consumers. A secondary region
  // has none: events are published and consumed at home.
  const events = secondary
    ? undefined
    : createDomainEvents({
        config,
        redis,
        userData,
        invalidation,
        catalogOutbox: MAIN_OUTBOX,
        productTags: (ids) => [catalogCache.catalogTag, ...ids.map((id) => catalogCache.productTag(id))],
        registry: metrics.registry,
        logger: app.log,
      });
  events?.start();
  const users = new UserRepository();
  const orders = new OrderRepository();
  const accounts = new UserAccounts(userData, users);
  const shard0 = userData.shard0;
  const sessionStore = sessionRedis
    ? openSessionStore(config, sessionRedis, sessionBreaker, app.log)
    : openSessionStore(config, redis, redisBreaker, app.log);
  // Stage 1m: the orders service reserves stock in the products service over HTTP (services/service-wiring.ts).
  const overHttp = servicePlacement(config, orders, app.log);
  const shop: ShopContext = {
    config,
    db,
    cache,
    pageCache,
    invalidation,
    events,
    ...(follower ? { follower } : {}),
    replicaInvalidation,
    reads: shard0.reads,
    userData,
    accounts,
    placement:
      overHttp?.placement ??
      (userData.sharded
        ? new CrossDatabaseOrderPlacement(db.writer, orders)
        : new SingleStatementOrderPlacement(db.writer, orders)),
    ...(!secondary && runsReservationReconciler(config.service, userData.sharded)
      ? {
          reconciler: new ReservationReconciler(db, userData, {
            // RESERVATION_TIMEOUT_SECONDS (default 300): beyond any request's life, so no write is in flight.
            timeoutSeconds: config.sharding?.reservationTimeoutSeconds ?? 300,
            batch: 100,
            tagsOf: (productIds) => [
              catalogCache.catalogTag,
              ...productIds.map((id) => catalogCache.productTag(id)),
            ],
          }),
        }
      : {}),
    metrics,
    catalog: new CatalogRepository(),
    users,
    orders,
    reports: new AdminReports(
      new ScatterGather(userData, {
        ...config.scatter,
        onShardMissing: (shardId, err) =>
          app.log.warn(
            { shardId, err: err.message },
            'shard left out of a cross-shard read (partial result)',
          ),
      }),
    ),
    roles: new RoleReader(
      cache,
      accounts,
      config.adminEmails,
      Math.min(config.cacheTtlSeconds, ROLE_CACHE_MAX_SECONDS),
    ),
    sessions: sessionStore,
    redisBreaker,
  };
  app.decorate('shop', shop);
  // Every instance settles overdue reservations (rows are locked per run, so instances never collide).
  const reconcileTimer = shop.reconciler
    ? setInterval(() => {
        shop.reconciler
          ?.runOnce()
          .then((result) => {
            if (result.confirmed + result.released > 0)
              app.log.warn(result, 'settled reservations left by interrupted order placements');
          })
          .catch((err: Error) => app.log.error({ err: err.message }, 'reservation reconciler failed'));
      }, RESERVATION_RECONCILE_MS)
    : undefined;
  reconcileTimer?.unref();
  app.decorate('metricsServer', metricsServer);
  app.addSchema(errorSchema);
  app.addHook('onClose', async () => {
    // The internal API's in-flight requests finish before the pools they use close.
    await app.internalServer
      ?.close()
      .catch((err: Error) => app.log.error({ err: err.message }, 'error while closing the internal API'));
    if (reconcileTimer) clearInterval(reconcileTimer);
    overHttp?.client.shutdown();
    replicaInvalidation.close();
    await follower
      ?.stop()
      .catch((err: Error) =>
        app.log.error({ err: err.message }, 'error while stopping the regional follower'),
      );
    // Relays and consumers finish their batch before the pools and Redis connections they use close; domain
    // events first, since the stock release records invalidations.
    await events
      ?.stop()
      .catch((err: Error) => app.log.error({ err: err.message }, 'error while stopping domain events'));
    await invalidation
      .stop()
      .catch((err: Error) =>
        app.log.error({ err: err.message }, 'error while stopping the invalidation pipeline'),
      );
    await closeResources();
  });

  // Callback hooks, not async ones: they run on every request, and an async hook costs a promise each.
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    done(null, payload);
  });
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const seconds = reply.elapsedTime / 1000;
    metrics.httpDuration.observe({ method: request.method, route, status_code: reply.statusCode }, seconds);
    metrics.httpDurationQuantiles.observe({ route }, seconds);
    done();
  });

  const errorHandler = (
    error: Error & { statusCode?: number; validation?: unknown },
    request: FastifyRequest,
    reply: FastifyReply,
  ) => {
    const status =
      error instanceof HttpError || (error.statusCode && error.statusCode >= 400 && error.statusCode < 500)
        ? (error.statusCode as number)
        : 500;
    if (secondary && isReadOnlyWriteError(error)) {
      // A write that got past the 421 hook (a GET that writes) met the read-only replica: the same answer.
      request.log.warn({ url: request.url }, 'write refused by the read-only replica of a secondary region');
      return reply.code(421).send(writesServedByHome(config.region.homeRegion ?? 'unknown'));
    }
    if (error instanceof ShardUnavailableError) {
      // Expected during a logical shard's move: a warning, not an error with a stack trace.
      request.log.warn({ logicalShard: error.logicalShard }, error.message);
      return reply
        .code(503)
        .header('retry-after', String(error.retryAfterSeconds))
        .send({ statusCode: 503, error: STATUS_CODES[503], message: error.message });
    }
    if (error instanceof HttpError && status >= 500) {
      // A dependency outage with a message written for clients (e.g. the session store is down).
      request.log.error({ err: error.cause ?? error }, error.message);
      if (error instanceof DependencyUnavailableError)
        reply.header('retry-after', String(error.retryAfterSeconds));
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
    if (status === 429) request.log.warn({ ip: request.clientIp, url: request.url }, 'rate limited');
    return reply
      .code(status)
      .send({ statusCode: status, error: STATUS_CODES[status] ?? 'Error', message: error.message });
  };
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({
      statusCode: 404,
      error: 'Not Found',
      message: notFoundMessage(config.service, request.method, request.url.split('?')[0]),
    });
  });

  sendSecurityHeaders(app, securityHeaders);
  await app.register(fastifyCookie);
  await registerLazySession(
    app,
    {
      secret: config.sessionSecret ?? randomBytes(32).toString('hex'),
      cookieName: 'sid',
      cookie: {
        httpOnly: true,
        secure: config.sessionCookieSecure,
        sameSite: 'lax',
        path: '/',
        maxAge: config.sessionTtlSeconds * 1000,
      },
      saveUninitialized: false,
      store: sessionStore,
    },
    { readOnly: secondary },
  );
  await app.register(fastifyRateLimit, {
    global: false,
    // Counters shared across instances in Redis, through the breaker. Only log-in and sign-up are limited,
    // and they refuse (503) when the counters cannot be reached: never an unlimited password oracle.
    ...(redis && config.redis && redisBreaker
      ? { store: breakerRateLimitStore(redis, `${config.redis.keyPrefix}rl:`, redisBreaker) }
      : {}),
    skipOnError: false,
    // Per client address: CLIENT_IP_HEADER's when set (API Gateway writes it), else the trusted proxies'.
    keyGenerator: (request) => request.clientIp,
  });

  const authLimit = { max: config.rateLimitAuth.max, timeWindow: config.rateLimitAuth.windowMs };
  // SERVICE picks the routes (services/service-routes.ts): all of them for the monolith.
  await registerServiceRoutes(app, config.service, authLimit);
  // The products service's internal API: on INTERNAL_PORT only, never on this (public) server.
  app.decorate(
    'internalServer',
    config.service === 'products'
      ? await buildInternalServer({ shop, logger: app.log, serverOptions, validatorCompiler, errorHandler })
      : undefined,
  );
  return app;
}
