import { randomUUID } from 'node:crypto';
import fastifyHttpProxy from '@fastify/http-proxy';
import fastifyRateLimit from '@fastify/rate-limit';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import {
  defaultService,
  INTERNAL_PREFIX,
  ownerOf,
  SERVICE_IDS,
  SERVICE_ROUTES,
} from '../services/service-routes';
import type { GatewayConfig } from './gateway-config';
import { sendFrameworkError } from '../errors';
import { UpstreamPool } from './upstream-pool';

/** Options of {@link buildGateway}. */
export interface BuildGatewayOptions {
  readonly config: GatewayConfig;
  /** @default - JSON logs at the config's level */
  readonly logger?: FastifyServerOptions['logger'];
}

// What a client may set as its X-Request-Id (as the app accepts it); anything else gets a fresh id.
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * The path of a request URL as a service's router may understand it: percent-decoded, repeated slashes collapsed,
 * dot segments resolved, lower-cased (the query is dropped). Decisions of the gateway (refusing /internal, the
 * log-in limit) are taken on this, never on the raw spelling, which a client chooses.
 */
export function normalisedPath(rawUrl: string): string {
  let path = rawUrl.split('?')[0];
  try {
    path = decodeURIComponent(path);
  } catch {
    // an invalid escape is left as it is; the service answers it with a 400 or 404
  }
  return new URL(path.replace(/\/{2,}/g, '/'), 'http://gateway').pathname.toLowerCase();
}

/** The log-in and sign-up routes (normalised, without a trailing slash). */
const AUTH_PATHS = new Set(['/api/sessions', '/api/users']);

/**
 * Log-in and sign-up: the routes with the stricter limit (password guessing, account spam), in any spelling
 * the service would route there (`/api/session%73`, `/api//sessions/`, ...).
 */
export function isAuthAttempt(method: string, rawUrl: string): boolean {
  if (method !== 'POST') return false;
  return AUTH_PATHS.has(normalisedPath(rawUrl).replace(/\/+$/, ''));
}

/**
 * True for any spelling of a path under /internal/: percent-encoded, with repeated slashes or dot segments, in
 * any case. The gateway refuses them all; the services' internal API is for Service Connect callers only.
 */
export function isInternalPath(rawUrl: string): boolean {
  const normalised = normalisedPath(rawUrl);
  const prefix = INTERNAL_PREFIX.toLowerCase();
  return normalised.startsWith(prefix) || normalised === prefix.slice(0, -1);
}

// Errors that say the process is gone (nothing listens, or the connection dropped): no traffic for a cool-down.
const UPSTREAM_GONE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH']);
// Methods whose request may be sent again to another process of the service.
const IDEMPOTENT = new Set(['GET', 'HEAD']);

/** reply.from's options (@fastify/reply-from's hooks). */
type FromOptions = Parameters<FastifyReply['from']>[1];

/** What one proxied request has tried: for the failover of an idempotent request to the next process. */
interface Attempt {
  pool: UpstreamPool;
  tried: Set<string>;
  current?: string;
  dest?: string;
  options?: FromOptions;
}

function causeCode(error: Error): string | undefined {
  const cause = (error as Error & { cause?: { code?: string } }).cause;
  return cause?.code ?? (error as Error & { code?: string }).code;
}

/**
 * The local API gateway of stage 1m: the same routes as the API Gateway + internal ALB in AWS
 * (services/service-routes.ts: each service's path patterns, products for everything else including the
 * storefront), `/internal/*` refused, a rate limit per client address on every route and a stricter one on
 * log-in and sign-up, and one access log line per request. A service with several processes (a comma-separated
 * `*_URL`) is balanced round-robin as the ALB's target group is: a process that refuses or drops a connection gets
 * no traffic for `upstreamCooldownMs`, and a GET or HEAD that failed so is sent to the next process at once (a POST
 * is not: it answers 503, the client decides).
 */
export async function buildGateway(options: BuildGatewayOptions): Promise<FastifyInstance> {
  const { config } = options;
  const gateway = Fastify({
    logger: options.logger ?? { level: config.logLevel },
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && CLIENT_REQUEST_ID.test(given) ? given : randomUUID();
    },
    // The gateway is the edge: it trusts no X-Forwarded-For from clients, and sets it for the services.
    trustProxy: false,
    return503OnClosing: true,
    forceCloseConnections: true,
    // A URL fastify cannot decode (FST_ERR_BAD_URL, 400) is answered before routing, where no
    // hook runs and no service sees it: the access line is written here, the request id set by sendFrameworkError.
    frameworkErrors: (error, request, frameworkReply) => {
      const reply = frameworkReply as FastifyReply;
      reply.raw.once('finish', () => logAccess(request, reply));
      sendFrameworkError(error, request, reply);
    },
  });
  // One access line per request, on the gateway's own logger: the proxied routes log at `warn` only (fastify's
  // two lines per request and the proxy's own are left out).
  const logAccess = (request: FastifyRequest, reply: FastifyReply) =>
    gateway.log.info(
      {
        reqId: request.id,
        method: request.method,
        path: request.url.split('?')[0],
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
        service: ownerOf(request.url.split('?')[0]),
        ip: request.ip,
        bytes: Number(reply.getHeader('content-length') ?? 0),
      },
      'access',
    );

  gateway.addHook('onRequest', async (request, reply) => {
    if (isInternalPath(request.url)) {
      request.log.warn({ url: request.url }, 'refused a request for the internal API');
      return reply
        .code(404)
        .send({ statusCode: 404, error: 'Not Found', message: 'the internal API is not served here' });
    }
    // A body declared too big is refused here, before it is streamed on: a service that answers 413 early and
    // closes would otherwise break the stream, and the client would see the gateway's 503 instead.
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > config.bodyLimitBytes) {
      return reply.code(413).send({
        statusCode: 413,
        error: 'Payload Too Large',
        message: `the request body is ${declared} bytes; at most ${config.bodyLimitBytes} are accepted`,
      });
    }
  });
  gateway.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  gateway.addHook('onResponse', async (request, reply) => {
    logAccess(request, reply);
  });

  await gateway.register(fastifyRateLimit, {
    global: true,
    max: (request) =>
      isAuthAttempt(request.method, request.url) ? config.authRateLimitMax : config.rateLimitMax,
    // Separate counters, so browsing does not use up a client's log-in attempts or the other way round.
    keyGenerator: (request) => `${isAuthAttempt(request.method, request.url) ? 'auth' : 'all'}:${request.ip}`,
    timeWindow: config.rateLimitWindowMs,
  });

  const attempts = new WeakMap<FastifyRequest, Attempt>();
  const unavailable = (reply: FastifyReply, status: 503 | 504) =>
    reply
      .code(status)
      .header('retry-after', '5')
      .send({
        statusCode: status,
        error: status === 504 ? 'Gateway Timeout' : 'Service Unavailable',
        message: status === 504 ? 'the service did not answer in time' : 'the service is unavailable',
      });
  const replyOptions = {
    rewriteRequestHeaders: (request: FastifyRequest, headers: Record<string, unknown>) => ({
      ...headers,
      'x-request-id': request.id,
      // The services trust exactly one proxy hop (TRUST_PROXY_HOPS=1): this one.
      'x-forwarded-for': request.ip,
      'x-forwarded-proto': request.protocol,
    }),
    // A service that is down or slow: 503 (with Retry-After) or 504, never a hang. A process that is gone is
    // marked down; an idempotent request goes on to the next process not yet tried.
    onError: (reply: FastifyReply, { error }: { error: Error & { statusCode?: number } }) => {
      const attempt = attempts.get(reply.request);
      const code = causeCode(error);
      if (attempt?.current && code !== undefined && UPSTREAM_GONE.has(code)) {
        attempt.pool.markDown(attempt.current);
        attempt.tried.add(attempt.current);
        const next = IDEMPOTENT.has(reply.request.method) ? attempt.pool.pick(attempt.tried) : undefined;
        if (next && attempt.dest !== undefined && !reply.sent) {
          reply.request.log.warn(
            { failed: attempt.current, next, code },
            'upstream gone; trying the next one',
          );
          attempt.current = next;
          return reply.from(attempt.dest, { ...attempt.options, getUpstream: () => next } as never);
        }
      }
      return unavailable(reply, error.statusCode === 504 ? 504 : 503);
    },
  };
  const http = { requestOptions: { timeout: config.upstreamTimeoutMs } };
  const pools = new Map<string, UpstreamPool>();
  const proxyTo = (id: (typeof SERVICE_IDS)[number]) => {
    let pool = pools.get(id);
    if (!pool) {
      pool = new UpstreamPool(config.upstreams[id], { cooldownMs: config.upstreamCooldownMs });
      pools.set(id, pool);
    }
    const servicePool = pool;
    return {
      // The registered upstream only names the service; every request gets its process from the pool.
      upstream: servicePool.upstreams[0],
      replyOptions: {
        ...replyOptions,
        getUpstream: (request: FastifyRequest) => {
          const upstream = servicePool.pick() ?? servicePool.upstreams[0];
          attempts.set(request, { pool: servicePool, tried: new Set(), current: upstream });
          return upstream;
        },
      } as never,
      // Kept so that a failed idempotent request can be sent again, to another process, unchanged.
      handler: (request: FastifyRequest, reply: FastifyReply, dest: string, options: FromOptions) => {
        const attempt = attempts.get(request);
        if (attempt) Object.assign(attempt, { dest, options });
        return reply.from(dest, options);
      },
      http,
      logLevel: 'warn' as const,
    };
  };
  for (const id of SERVICE_IDS) {
    for (const pattern of SERVICE_ROUTES[id].pathPatterns) {
      // `/api/users*` -> the prefix /api/users (and everything below it); `/api/me` -> /api/me.
      const prefix = pattern.replace(/\*$/, '');
      await gateway.register(fastifyHttpProxy, { ...proxyTo(id), prefix, rewritePrefix: prefix });
    }
  }
  // Everything else (the storefront, unmatched paths): the default service, as the listener's default action.
  await gateway.register(fastifyHttpProxy, proxyTo(defaultService()));
  return gateway;
}
