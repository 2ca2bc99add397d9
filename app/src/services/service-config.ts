import { SERVICE_IDS, type ServiceSelection } from './service-routes';

/**
 * Default keep-alive of the app's HTTP server: above every idle timeout in front of it (the ALB's 60 s, and
 * the 60 s Service Connect idleTimeout stage 1m sets), so the proxy always closes an idle connection first
 * and never sends a request on one the app is closing (which the client would see as a 502).
 */
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 65_000;

/** Default port of the products service's internal API (INTERNAL_PORT): Service Connect's port mapping. */
export const DEFAULT_INTERNAL_PORT = 3001;

// An HTTP header name (RFC 9110 token).
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Headers a client can write into (every proxy appends to them), or that are not about addresses at all.
const REFUSED_CLIENT_IP_HEADERS = new Set([
  'x-forwarded-for',
  'forwarded',
  'host',
  'cookie',
  'authorization',
]);

/** Environment variables of the service split (merged into the app's env schema by config.ts). */
export interface ServiceEnv {
  SERVICE?: string;
  PRODUCTS_URL?: string;
  PRODUCTS_TIMEOUT_MS: number;
  PRODUCTS_RETRIES: number;
  PRODUCTS_BUDGET_MS: number;
  PRODUCTS_BREAKER_RESET_MS: number;
  KEEP_ALIVE_TIMEOUT_MS: number;
  OUTBOX_POLL_MS: number;
  INTERNAL_PORT: number;
  CLIENT_IP_HEADER?: string;
}

/** JSON schema of {@link ServiceEnv} (properties of the app's env schema). */
export const serviceEnvJsonSchema = {
  // Validated by resolveServiceConfig, which lists the allowed values in its message.
  SERVICE: { type: 'string' },
  PRODUCTS_URL: { type: 'string' },
  PRODUCTS_TIMEOUT_MS: { type: 'integer', minimum: 50, maximum: 30000, default: 1500 },
  PRODUCTS_RETRIES: { type: 'integer', minimum: 0, maximum: 5, default: 2 },
  PRODUCTS_BUDGET_MS: { type: 'integer', minimum: 100, maximum: 55000, default: 5000 },
  PRODUCTS_BREAKER_RESET_MS: { type: 'integer', minimum: 100, maximum: 600000, default: 5000 },
  KEEP_ALIVE_TIMEOUT_MS: {
    type: 'integer',
    minimum: 1000,
    maximum: 600000,
    default: DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
  },
  // How often an idle outbox relay looks for rows no process woke it for (a writer that died); every process
  // polls every database's outbox, so stage 1m's three services poll three times as often as one monolith.
  OUTBOX_POLL_MS: { type: 'integer', minimum: 50, maximum: 600000, default: 500 },
  // The products service's internal API listens here only (Service Connect's `products` port mapping); the
  // public port never serves /internal/ in any spelling. 0 picks any free port.
  INTERNAL_PORT: { type: 'integer', minimum: 0, maximum: 65535, default: DEFAULT_INTERNAL_PORT },
  // Checked by resolveServiceConfig (a header name), which says what to set.
  CLIENT_IP_HEADER: { type: 'string' },
} as const;

/** How the orders service reaches the products service (stock reservations over HTTP). */
export interface ProductsClientConfig {
  /** Base URL of the products service (`http://products` over Service Connect). */
  readonly baseUrl: string;
  /** Timeout of one attempt. */
  readonly timeoutMs: number;
  /** Retries of an idempotent call after the first attempt. */
  readonly retries: number;
  /** Time all attempts of one call may take together: below the order request's own budget. */
  readonly budgetMs: number;
  /** How long the circuit breaker stays open before one probe is let through (half-open). */
  readonly breakerResetMs: number;
}

/** The service-split part of the app's configuration. */
export interface ServiceConfig {
  /** What this process runs (SERVICE): the monolith (`all`) or one service of stage 1m. */
  readonly service: ServiceSelection;
  /** The orders service's products dependency (SERVICE=orders only). */
  readonly products?: ProductsClientConfig;
  /** keepAliveTimeout of the HTTP server (KEEP_ALIVE_TIMEOUT_MS). */
  readonly keepAliveTimeoutMs: number;
  /** Idle poll of each outbox relay (OUTBOX_POLL_MS); a writer wakes its own relay at once anyway. */
  readonly outboxPollMs: number;
  /**
   * Port of the internal API's own server (INTERNAL_PORT, default 3001): it listens only when SERVICE=products,
   * on HOST; the public port never serves `/internal/`.
   */
  readonly internalPort: number;
  /**
   * Lower-case name of the header holding the client's address (CLIENT_IP_HEADER), for rate limits and logs:
   * stage 1m's API Gateway overwrites `x-client-ip` with the caller's source IP. Absent = the address the
   * trusted proxies (TRUST_PROXY_HOPS) report.
   */
  readonly clientIpHeader?: string;
}

/**
 * Resolves SERVICE and its dependencies, pushing one message per problem (naming the variable and the fix).
 * `sessions` is what the rest of the configuration resolved for the session store.
 */
export function resolveServiceConfig(
  env: ServiceEnv & { PORT: number; METRICS_PORT: number },
  sessions: { store: 'memory' | 'redis'; secret?: string },
  problems: string[],
): ServiceConfig {
  const raw = env.SERVICE ?? 'all';
  const allowed: readonly string[] = ['all', ...SERVICE_IDS];
  let service: ServiceSelection = 'all';
  if (allowed.includes(raw)) service = raw as ServiceSelection;
  else
    problems.push(
      `SERVICE must be one of ${allowed.join(', ')} (got "${raw}"): all = the monolith, else one service of stage 1m`,
    );

  if (service !== 'all') {
    // Every service authenticates the same cookie: one store, one signing secret.
    if (sessions.store !== 'redis')
      problems.push(
        `SERVICE=${service} needs the shared session store: set REDIS_URL (or REDIS_HOST) and leave SESSION_STORE unset or redis`,
      );
    if (sessions.secret === undefined)
      problems.push(
        `SERVICE=${service} needs SESSION_SECRET, the same on every service (they share sessions)`,
      );
  }

  let products: ProductsClientConfig | undefined;
  if (service === 'orders' && env.PRODUCTS_URL === undefined)
    problems.push(
      'SERVICE=orders needs PRODUCTS_URL, the products service base URL (http://products over Service Connect)',
    );
  if (env.PRODUCTS_URL !== undefined) {
    if (service !== 'orders')
      problems.push(`PRODUCTS_URL is set but SERVICE is ${service}: only SERVICE=orders calls products`);
    let url: URL | undefined;
    try {
      url = new URL(env.PRODUCTS_URL);
    } catch {
      // reported below
    }
    if (!url || !/^https?:$/.test(url.protocol) || url.search || url.hash)
      problems.push(
        `PRODUCTS_URL must be an http(s) base URL without query, e.g. http://products (got "${env.PRODUCTS_URL}")`,
      );
    else
      products = {
        baseUrl: url.toString().replace(/\/$/, ''),
        timeoutMs: env.PRODUCTS_TIMEOUT_MS,
        retries: env.PRODUCTS_RETRIES,
        budgetMs: env.PRODUCTS_BUDGET_MS,
        breakerResetMs: env.PRODUCTS_BREAKER_RESET_MS,
      };
  }
  if (env.PRODUCTS_BUDGET_MS < env.PRODUCTS_TIMEOUT_MS)
    problems.push(
      `PRODUCTS_BUDGET_MS (${env.PRODUCTS_BUDGET_MS}) must be at least PRODUCTS_TIMEOUT_MS (${env.PRODUCTS_TIMEOUT_MS}): one attempt must fit`,
    );
  if (service === 'products' && env.INTERNAL_PORT !== 0) {
    for (const [name, port] of [
      ['PORT', env.PORT],
      ['METRICS_PORT', env.METRICS_PORT],
    ] as const)
      if (port === env.INTERNAL_PORT)
        problems.push(
          `INTERNAL_PORT and ${name} are both ${port}: the internal API needs a port of its own that the load balancer does not route to`,
        );
  }
  const clientIpHeader = env.CLIENT_IP_HEADER?.trim().toLowerCase();
  if (clientIpHeader !== undefined && clientIpHeader !== '') {
    if (!HEADER_NAME.test(clientIpHeader))
      problems.push(
        `CLIENT_IP_HEADER must be an HTTP header name, e.g. x-client-ip (got "${env.CLIENT_IP_HEADER}")`,
      );
    else if (REFUSED_CLIENT_IP_HEADERS.has(clientIpHeader))
      problems.push(
        `CLIENT_IP_HEADER=${clientIpHeader} is refused: clients write into it; name a header the proxy in front overwrites (x-client-ip), or unset it and set TRUST_PROXY_HOPS`,
      );
  }
  return {
    service,
    ...(products ? { products } : {}),
    keepAliveTimeoutMs: env.KEEP_ALIVE_TIMEOUT_MS,
    outboxPollMs: env.OUTBOX_POLL_MS,
    internalPort: env.INTERNAL_PORT,
    ...(clientIpHeader ? { clientIpHeader } : {}),
  };
}
