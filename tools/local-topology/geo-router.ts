/**
 * The local geo router of stage global: one HTTP proxy in front of every region's gateway that does what
 * CloudFront (the `/api/*` function) and Route 53 (geolocation records, health checks, failover pairs) do in
 * AWS, by the shared table in lib/config/global-routing.ts:
 *
 * - the home region is the writer region: the first region until {@link GeoRouter.setWriterRegion} moves it, as
 *   a deploy with `-c writerRegion` moves the edge function's home origin and the Route 53 `*` default record;
 * - the viewer's region is the region whose continents (`continentsOf`, or `continents` given) hold the
 *   continent of the `CloudFront-Viewer-Country` header's country; no header, an unknown country or a continent no
 *   region serves: the home region (the `*` default record);
 * - a non-safe method (not in REGIONAL_METHODS) goes to the home region; so does a request carrying the
 *   HOME_PIN_COOKIE (the viewer wrote within the read-your-writes window);
 * - every region's readiness (`/readyz` through its gateway) is polled like a Route 53 health check; after
 *   `failureThreshold` failed checks in a row a region is unhealthy (and healthy again after as many passes), and
 *   its read traffic goes to `failoverRegionOf(region)` (the failover pairs follow the order of the regions, not
 *   the writer). Health never moves writes: the edge sends them to the home region's own hostname, so with the
 *   home region down they fail (502), as in AWS until an operator fails the databases over and deploys
 *   `-c writerRegion` (docs/runbooks; locally GlobalTopology.failOverTo);
 * - every answer carries `x-served-region` (and `x-viewer-region`), so tests and the bench see where it went;
 * - `interRegionLatencyMs` adds one inter-region round trip to a request served outside the viewer's region.
 *
 * Built on fastify + @fastify/http-proxy (as the local API gateway), choosing the upstream per request.
 */
import fastifyHttpProxy from '@fastify/http-proxy';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import {
  HOME_PIN_COOKIE,
  REGIONAL_METHODS,
  continentsOf,
  failoverRegionOf,
} from '../../lib/config/global-routing';
import { continentOfCountry } from './geo-router-countries';

/** The header CloudFront sets with the viewer's country (ISO 3166-1 alpha-2). */
export const VIEWER_COUNTRY_HEADER = 'cloudfront-viewer-country';
/** The router's answer header naming the region that served the request. */
export const SERVED_REGION_HEADER = 'x-served-region';
/** The router's answer header naming the viewer's region (by country). */
export const VIEWER_REGION_HEADER = 'x-viewer-region';

/** Why a request went where it went. */
export type RouteReason = 'viewer-region' | 'write-goes-home' | 'home-pin-cookie' | 'failover';

/** The routing decision for one request. */
export interface RouteDecision {
  /** The region of the viewer's continent (or home by default). */
  readonly viewerRegion: string;
  /** The region that serves the request. */
  readonly region: string;
  readonly reason: RouteReason;
}

/** What {@link routeRequest} decides on. */
export interface RouteInput {
  readonly method: string;
  /** The `CloudFront-Viewer-Country` header, if any. */
  readonly country?: string;
  /** The `Cookie` header, if any. */
  readonly cookie?: string;
  /** The regions, in the deployment's order (the first is the home region unless `writerRegion` says otherwise). */
  readonly regions: readonly string[];
  /** The region with the writers (`-c writerRegion`). @default - the first of `regions` */
  readonly writerRegion?: string;
  /** Continents each region serves. @default - `continentsOf(region)` */
  readonly continents?: Readonly<Record<string, readonly string[]>>;
  /** Whether a region passes its health check. @default - every region is healthy */
  readonly healthy?: (region: string) => boolean;
}

/** Whether a `Cookie` header carries the home pin cookie. */
export function hasHomePin(cookie: string | undefined): boolean {
  if (!cookie) return false;
  return cookie.split(';').some((pair) => pair.trim().split('=')[0] === HOME_PIN_COOKIE);
}

/** The viewer's region: the first region serving the country's continent, else the home region (`home`). */
export function viewerRegionOf(
  country: string | undefined,
  regions: readonly string[],
  continents?: Readonly<Record<string, readonly string[]>>,
  home: string = regions[0],
): string {
  const continent = country ? continentOfCountry(country) : undefined;
  if (!continent) return home;
  return regions.find((region) => (continents?.[region] ?? continentsOf(region)).includes(continent)) ?? home;
}

/** Routes one request by the rules of lib/config/global-routing.ts (see the module comment). */
export function routeRequest(input: RouteInput): RouteDecision {
  const { regions } = input;
  if (regions.length === 0) throw new Error('routeRequest needs at least one region (home first)');
  const home = input.writerRegion ?? regions[0];
  if (!regions.includes(home))
    throw new Error(`routeRequest: writer region ${home} is not one of ${regions.join(', ')}`);
  const healthy = input.healthy ?? (() => true);
  const viewerRegion = viewerRegionOf(input.country, regions, input.continents, home);
  if (!REGIONAL_METHODS.includes(input.method.toUpperCase()))
    return { viewerRegion, region: home, reason: 'write-goes-home' };
  // As at the edge (the CloudFront function cannot see health): a pinned read goes home even when home is down; it
  // fails for the rest of the read-your-writes window (seconds) rather than read a replica that may lack the write.
  if (hasHomePin(input.cookie)) return { viewerRegion, region: home, reason: 'home-pin-cookie' };
  if (healthy(viewerRegion)) return { viewerRegion, region: viewerRegion, reason: 'viewer-region' };
  return { viewerRegion, region: failoverRegionOf(viewerRegion, regions), reason: 'failover' };
}

/** One region behind the router. */
export interface GeoRouterRegion {
  readonly name: string;
  /** Base URL of the region's front door (its gateway). */
  readonly url: string;
}

/** Options of {@link startGeoRouter}. */
export interface GeoRouterOptions {
  /** The regions, home first. */
  readonly regions: readonly GeoRouterRegion[];
  /** Continents each region serves. @default - `continentsOf(region)` */
  readonly continents?: Readonly<Record<string, readonly string[]>>;
  /** Time between health checks of each region, ms (Route 53: 10 or 30 s). @default 1000 */
  readonly healthCheckIntervalMs?: number;
  /** Failed checks in a row before a region is unhealthy, and passes before it is healthy again. @default 2 */
  readonly failureThreshold?: number;
  /** How long a check waits for the answer, ms (a slower answer fails the check). @default 2000 */
  readonly healthCheckTimeoutMs?: number;
  /** Path of the health check. @default '/readyz' */
  readonly healthCheckPath?: string;
  /** One inter-region round trip added to requests served outside the viewer's region, ms. @default 0 */
  readonly interRegionLatencyMs?: number;
  /** Port. @default - a free port */
  readonly port?: number;
}

/** A change of a region's health, as the router saw it. */
export interface HealthChange {
  readonly region: string;
  readonly healthy: boolean;
  /** `performance.now()` (ms) of the check that changed it. */
  readonly at: number;
}

/** A running geo router. */
export interface GeoRouter {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Whether the router counts the region healthy now. */
  healthy(region: string): boolean;
  /** Routes a request as the router would now. */
  route(method: string, country?: string, cookie?: string): RouteDecision;
  /** The region writes, pinned reads and the `*` default go to: the first region until {@link setWriterRegion}. */
  readonly writerRegion: string;
  /**
   * Sends writes, pinned reads and viewers no region claims to `region` from now on: what a deploy with
   * `-c writerRegion=<region>` does to the edge function and the Route 53 default record. Health checks and
   * failover pairs stay as they are.
   */
  setWriterRegion(region: string): void;
  /** Every health change so far, in order. */
  readonly healthChanges: readonly HealthChange[];
  /**
   * Resolves with the change that made `region` `healthy` (or not): at once when it already is (undefined when it
   * always was), else when it becomes so; rejects after `timeoutMs`.
   */
  waitForHealth(region: string, healthy: boolean, timeoutMs?: number): Promise<HealthChange | undefined>;
  /** Sets the injected inter-region round trip, ms. */
  setInterRegionLatency(ms: number): void;
  /** Stops the health checks and the server. */
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts the router; the regions start healthy (as Route 53 counts a new health check) and are checked at once. */
export async function startGeoRouter(options: GeoRouterOptions): Promise<GeoRouter> {
  const regions = options.regions.map((r) => r.name);
  if (regions.length === 0) throw new Error('startGeoRouter: give at least one region (home first)');
  if (new Set(regions).size !== regions.length)
    throw new Error(`startGeoRouter: region names must be unique (got ${regions.join(', ')})`);
  const intervalMs = options.healthCheckIntervalMs ?? 1000;
  const threshold = options.failureThreshold ?? 2;
  if (!(intervalMs > 0)) throw new Error(`healthCheckIntervalMs must be above 0 (got ${intervalMs})`);
  if (!Number.isInteger(threshold) || threshold < 1)
    throw new Error(`failureThreshold must be an integer of at least 1 (got ${threshold})`);
  const checkPath = options.healthCheckPath ?? '/readyz';
  const checkTimeoutMs = options.healthCheckTimeoutMs ?? 2000;
  let latencyMs = options.interRegionLatencyMs ?? 0;
  const urlOf = new Map(options.regions.map((r) => [r.name, r.url.replace(/\/$/, '')]));
  let writerRegion = regions[0];

  // Health: Route 53 style, N failed (or passed) checks in a row flip the state.
  const state = new Map(regions.map((r) => [r, { healthy: true, streak: 0 }]));
  const changes: HealthChange[] = [];
  const waiters = new Set<{ region: string; healthy: boolean; resolve: (c: HealthChange) => void }>();
  const healthy = (region: string) => state.get(region)?.healthy ?? false;
  let closed = false;
  const check = async (region: string) => {
    let passed = false;
    try {
      // Route 53 gives a response 2 s after connecting (a refused connection fails at once).
      const response = await fetch(`${urlOf.get(region)}${checkPath}`, {
        signal: AbortSignal.timeout(checkTimeoutMs),
      });
      passed = response.status >= 200 && response.status < 300;
      await response.body?.cancel();
    } catch {
      passed = false;
    }
    if (closed) return;
    const s = state.get(region)!;
    if (passed === s.healthy) {
      s.streak = 0;
      return;
    }
    s.streak++;
    if (s.streak < threshold) return;
    s.healthy = passed;
    s.streak = 0;
    const change = { region, healthy: passed, at: performance.now() };
    changes.push(change);
    for (const waiter of [...waiters])
      if (waiter.region === region && waiter.healthy === passed) {
        waiters.delete(waiter);
        waiter.resolve(change);
      }
  };
  // Each region on its own timer (a slow check of one does not delay another's), never two checks at once.
  const timers = regions.map((region) => {
    let running = false;
    const tick = () => {
      if (running || closed) return;
      running = true;
      void check(region).finally(() => (running = false));
    };
    tick();
    return setInterval(tick, intervalMs);
  });

  const route = (method: string, country?: string, cookie?: string) =>
    routeRequest({ method, country, cookie, regions, writerRegion, continents: options.continents, healthy });
  const decisions = new WeakMap<FastifyRequest, RouteDecision>();
  const decide = (request: FastifyRequest) => {
    let decision = decisions.get(request);
    if (!decision) {
      const country = request.headers[VIEWER_COUNTRY_HEADER];
      decision = route(
        request.method,
        typeof country === 'string' ? country : undefined,
        request.headers.cookie,
      );
      decisions.set(request, decision);
    }
    return decision;
  };

  const server: FastifyInstance = Fastify({ logger: false, forceCloseConnections: true });
  server.addHook('onRequest', async (request, reply) => {
    const decision = decide(request);
    reply.header(SERVED_REGION_HEADER, decision.region);
    reply.header(VIEWER_REGION_HEADER, decision.viewerRegion);
    // The request crosses to another region: one round trip more (out and back), before it is sent.
    if (latencyMs > 0 && decision.region !== decision.viewerRegion) await sleep(latencyMs);
  });
  await server.register(fastifyHttpProxy, {
    upstream: urlOf.get(regions[0])!,
    http: { requestOptions: { timeout: 30_000 } },
    replyOptions: {
      getUpstream: (request: FastifyRequest) => urlOf.get(decide(request).region)!,
      onError: (reply: FastifyReply, { error }: { error: Error }) => {
        const region = decide(reply.request).region;
        void reply.code(502).send({
          error: `region ${region} did not answer (${error.message}); its traffic moves once its health check fails`,
        });
      },
    } as never,
  });
  await server.listen({ port: options.port ?? 0, host: '127.0.0.1' });
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    url: `http://127.0.0.1:${port}`,
    healthy,
    route,
    get writerRegion() {
      return writerRegion;
    },
    setWriterRegion(region) {
      if (!urlOf.has(region))
        throw new Error(`no region "${region}" behind the router (${regions.join(', ')})`);
      writerRegion = region;
    },
    healthChanges: changes,
    waitForHealth(region, wanted, timeoutMs = 30_000) {
      if (!state.has(region)) return Promise.reject(new Error(`no region "${region}" behind the router`));
      if (healthy(region) === wanted)
        return Promise.resolve(changes.filter((c) => c.region === region && c.healthy === wanted).at(-1));
      return new Promise((resolve, reject) => {
        const waiter = {
          region,
          healthy: wanted,
          resolve: (change: HealthChange) => {
            clearTimeout(timer);
            resolve(change);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(
            new Error(`region ${region} not ${wanted ? 'healthy' : 'unhealthy'} within ${timeoutMs} ms`),
          );
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    setInterRegionLatency(ms) {
      if (!(ms >= 0)) throw new Error(`inter-region latency must be 0 or more ms (got ${ms})`);
      latencyMs = ms;
    },
    async close() {
      closed = true;
      for (const timer of timers) clearInterval(timer);
      await server.close();
    },
  };
}
