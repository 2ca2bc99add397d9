/**
 * Stage 1m's route ownership: which service answers which public path. The single source of truth in the app
 * (the app registers exactly these routes per SERVICE, the local gateway routes by them) and mirrored by the
 * infrastructure's listener rules (stages/1m.ts; a test keeps both equal). Patterns use the ALB's path-pattern
 * syntax: `*` matches any characters (including none and `/`), everything else literally, case-sensitive.
 *
 * Pure data and pure functions only: the CDK app imports this file too.
 */

/** The services of stage 1m (one image; `SERVICE=` picks one). */
export const SERVICE_IDS = ['users', 'products', 'orders'] as const;

/** One service of stage 1m. */
export type ServiceId = (typeof SERVICE_IDS)[number];

/** What a process runs: `all` is the monolith (stages 1k-100k, `npm start`), else one service. */
export type ServiceSelection = 'all' | ServiceId;

/** The public paths of one service. */
export interface ServiceRoutes {
  /** ALB path patterns of the service's public routes (each becomes one listener rule condition). */
  readonly pathPatterns: readonly string[];
  /**
   * Whether the service also answers everything no other service owns (the storefront's static files and
   * unmatched paths): the listener's default action. Exactly one service is the default.
   */
  readonly isDefault: boolean;
}

/** Route ownership per service (issue #14's contract). */
export const SERVICE_ROUTES: Readonly<Record<ServiceId, ServiceRoutes>> = {
  users: {
    pathPatterns: ['/api/users*', '/api/sessions*', '/api/me', '/api/admin/users*'],
    isDefault: false,
  },
  orders: { pathPatterns: ['/api/orders*', '/api/admin/orders*', '/api/admin/sales*'], isDefault: false },
  products: { pathPatterns: ['/api/products*'], isDefault: true },
};

/**
 * Prefix of the internal API (the products service's stock reservations): reachable only inside the VPC over
 * Service Connect. The gateway, the ALB and the API Gateway never forward it.
 */
export const INTERNAL_PREFIX = '/internal/';

/** Paths every service answers itself (probes); never routed by path, each target group probes its own. */
export const OPS_PATHS = ['/healthz', '/readyz'] as const;

/** True when `path` (no query string) matches an ALB path pattern (`*` = any characters). */
export function matchesPathPattern(pattern: string, path: string): boolean {
  const parts = pattern.split('*');
  if (parts.length === 1) return path === pattern;
  if (!path.startsWith(parts[0])) return false;
  let at = parts[0].length;
  for (let i = 1; i < parts.length - 1; i++) {
    const found = path.indexOf(parts[i], at);
    if (found < 0) return false;
    at = found + parts[i].length;
  }
  const last = parts[parts.length - 1];
  return path.length - last.length >= at && path.endsWith(last);
}

/** The service that owns a public path: the first whose patterns match, else the default service. */
export function ownerOf(path: string): ServiceId {
  for (const id of SERVICE_IDS) {
    if (SERVICE_ROUTES[id].pathPatterns.some((pattern) => matchesPathPattern(pattern, path))) return id;
  }
  return defaultService();
}

/** The service behind the listener's default action. */
export function defaultService(): ServiceId {
  const found = SERVICE_IDS.filter((id) => SERVICE_ROUTES[id].isDefault);
  if (found.length !== 1) throw new Error(`exactly one service must be the default, found ${found.length}`);
  return found[0];
}

/** True when a process running `service` answers `path` (the monolith answers everything). */
export function serves(service: ServiceSelection, path: string): boolean {
  if (service === 'all' || (OPS_PATHS as readonly string[]).includes(path)) return true;
  return ownerOf(path) === service;
}
