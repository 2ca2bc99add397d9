import { envSchema } from 'env-schema';
import { SERVICE_IDS, type ServiceId } from '../services/service-routes';

/** The local API gateway's configuration (stage 1m's API Gateway HTTP API, on one machine). */
export interface GatewayConfig {
  readonly port: number;
  readonly host: string;
  readonly logLevel: string;
  /**
   * Base URLs of each service's processes (USERS_URL, PRODUCTS_URL, ORDERS_URL; a comma-separated list for a
   * service that runs several): the gateway balances round-robin across them.
   */
  readonly upstreams: Readonly<Record<ServiceId, readonly string[]>>;
  /** How long a process that refused a connection gets no traffic (GATEWAY_UPSTREAM_COOLDOWN_MS). */
  readonly upstreamCooldownMs: number;
  /** Requests per client address and window on every route (GATEWAY_RATE_LIMIT_MAX). */
  readonly rateLimitMax: number;
  /** Log-in and sign-up attempts per client address and window: stricter (GATEWAY_AUTH_RATE_LIMIT_MAX). */
  readonly authRateLimitMax: number;
  /** The rate limits' window (GATEWAY_RATE_LIMIT_WINDOW_MS). */
  readonly rateLimitWindowMs: number;
  /** Longest wait for a service's answer before a 504 (GATEWAY_UPSTREAM_TIMEOUT_MS; API Gateway's is 30 s). */
  readonly upstreamTimeoutMs: number;
  /**
   * Largest request body the gateway forwards (GATEWAY_BODY_LIMIT_BYTES; the services' BODY_LIMIT_BYTES default):
   * a bigger declared body is a 413 at the edge, before any of it is streamed to a service.
   */
  readonly bodyLimitBytes: number;
}

interface GatewayEnv {
  GATEWAY_PORT: number;
  GATEWAY_HOST: string;
  LOG_LEVEL: string;
  USERS_URL?: string;
  PRODUCTS_URL?: string;
  ORDERS_URL?: string;
  GATEWAY_RATE_LIMIT_MAX: number;
  GATEWAY_AUTH_RATE_LIMIT_MAX: number;
  GATEWAY_RATE_LIMIT_WINDOW_MS: number;
  GATEWAY_UPSTREAM_TIMEOUT_MS: number;
  GATEWAY_BODY_LIMIT_BYTES: number;
  GATEWAY_UPSTREAM_COOLDOWN_MS: number;
}

const schema = {
  type: 'object',
  properties: {
    GATEWAY_PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 8080 },
    GATEWAY_HOST: { type: 'string', minLength: 1, default: '127.0.0.1' },
    LOG_LEVEL: {
      type: 'string',
      enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      default: 'info',
    },
    USERS_URL: { type: 'string' },
    PRODUCTS_URL: { type: 'string' },
    ORDERS_URL: { type: 'string' },
    GATEWAY_RATE_LIMIT_MAX: { type: 'integer', minimum: 1, default: 600 },
    GATEWAY_AUTH_RATE_LIMIT_MAX: { type: 'integer', minimum: 1, default: 20 },
    GATEWAY_RATE_LIMIT_WINDOW_MS: { type: 'integer', minimum: 1000, default: 60000 },
    GATEWAY_UPSTREAM_TIMEOUT_MS: { type: 'integer', minimum: 100, maximum: 120000, default: 30000 },
    GATEWAY_BODY_LIMIT_BYTES: { type: 'integer', minimum: 1024, maximum: 10485760, default: 65536 },
    GATEWAY_UPSTREAM_COOLDOWN_MS: { type: 'integer', minimum: 100, maximum: 300000, default: 5000 },
  },
} as const;

/** Validates the gateway's environment; throws one error naming every wrong variable and the fix. */
export function loadGatewayConfig(source: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const data: Record<string, string> = {};
  for (const key of Object.keys(schema.properties)) {
    const value = source[key];
    if (value !== undefined && value !== '') data[key] = value;
  }
  let env: GatewayEnv;
  try {
    env = envSchema<GatewayEnv>({ schema, data, env: false, dotenv: false });
  } catch (err) {
    throw new Error(`Invalid gateway configuration: ${(err as Error).message}`);
  }
  const problems: string[] = [];
  const upstreams = {} as Record<ServiceId, string[]>;
  for (const id of SERVICE_IDS) {
    const key = `${id.toUpperCase()}_URL` as 'USERS_URL' | 'PRODUCTS_URL' | 'ORDERS_URL';
    const value = env[key];
    const origins: string[] = [];
    for (const item of value === undefined ? [undefined] : value.split(',').map((v) => v.trim())) {
      let url: URL | undefined;
      try {
        url = item === undefined ? undefined : new URL(item);
      } catch {
        url = undefined;
      }
      if (!url || !/^https?:$/.test(url.protocol) || url.pathname !== '/' || url.search) {
        problems.push(
          `${key} must be the ${id} service's base URL, or a comma-separated list of them, e.g. http://127.0.0.1:3001 (got ${item === undefined ? 'nothing' : `"${item}"`})`,
        );
        break;
      }
      if (!origins.includes(url.origin)) origins.push(url.origin);
    }
    upstreams[id] = origins;
  }
  if (env.GATEWAY_AUTH_RATE_LIMIT_MAX > env.GATEWAY_RATE_LIMIT_MAX)
    problems.push(
      'GATEWAY_AUTH_RATE_LIMIT_MAX must not exceed GATEWAY_RATE_LIMIT_MAX (log-in is the stricter limit)',
    );
  if (problems.length > 0) throw new Error(`Invalid gateway configuration: ${problems.join('; ')}`);
  return {
    port: env.GATEWAY_PORT,
    host: env.GATEWAY_HOST,
    logLevel: env.LOG_LEVEL,
    upstreams,
    rateLimitMax: env.GATEWAY_RATE_LIMIT_MAX,
    authRateLimitMax: env.GATEWAY_AUTH_RATE_LIMIT_MAX,
    rateLimitWindowMs: env.GATEWAY_RATE_LIMIT_WINDOW_MS,
    upstreamTimeoutMs: env.GATEWAY_UPSTREAM_TIMEOUT_MS,
    bodyLimitBytes: env.GATEWAY_BODY_LIMIT_BYTES,
    upstreamCooldownMs: env.GATEWAY_UPSTREAM_COOLDOWN_MS,
  };
}
