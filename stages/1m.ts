/**
 * Stage `1m`: stage `100k` plus the monolith split into users, products and orders services (one image,
 * `SERVICE=<id>`), an API gateway in front of them (HTTP API -> VPC link -> internal ALB), calls between them
 * over ECS Service Connect, and domain events over EventBridge and SQS. Only what differs from `100k` and from
 * the defaults (`lib/config/defaults.ts`) is written here.
 *
 * The first service (`shop`, the monolith) and the public load balancer stay exactly as in `100k`: they serve
 * every request until the domain is switched to the gateway (the zero-downtime cut-over in
 * docs/upgrades/100k-to-1m.md), and are retired in a later step once the gateway has carried the traffic.
 */
import type { AppServiceConfig, StageConfig } from '../lib/config';
import { stage100k } from './100k';

/**
 * What each service starts from: the `100k` task size and scaling (each service now carries a part of the
 * monolith's load, and scales on its own).
 */
const service = {
  cpu: 1024,
  memoryLimitMiB: 2048,
  autoscaling: { ...stage100k.service.autoscaling, minCapacity: 2, maxCapacity: 20 },
} as const;

/**
 * The three services, keyed by id. Paths mirror `app/src/services/service-routes.ts` (the stage 1m contract;
 * a test keeps both equal). Priorities order the internal listener's rules (1 is the blocked paths).
 */
const services = {
  // Sign-up, log-in, sessions, profile: every user shard.
  users: {
    ...service,
    route: {
      pathPatterns: ['/api/users*', '/api/sessions*', '/api/me', '/api/admin/users*'],
      priority: 10,
    },
  },
  // Orders live on the user shards; stock is reserved through the products service.
  orders: {
    ...service,
    route: { pathPatterns: ['/api/orders*', '/api/admin/orders*', '/api/admin/sales*'], priority: 20 },
    calls: ['products'],
  },
  // The catalog and stock on the catalog database (shard 0), and the storefront: the gateway's default.
  products: {
    ...service,
    route: { pathPatterns: ['/api/products*'], priority: 30 },
    shardAccess: 'catalog',
  },
} satisfies Record<string, AppServiceConfig>;

/** Stage `1m`: from about 100,000 to 1,000,000 users. */
export const stage1m = {
  ...stage100k,
  description:
    '100K to 1M: users, products and orders services behind an API gateway, Service Connect between them, ' +
    'domain events over EventBridge and SQS',
  services,
  gateway: { defaultService: 'products' },
  events: {},
} satisfies StageConfig;
