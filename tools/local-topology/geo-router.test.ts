// The geo router on its own: the routing table (pure), and the real proxy in front of three small HTTP servers
// standing in for the regions' gateways (each answers with its region's name and can be made unready or stopped).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HOME_PIN_COOKIE, failoverRegionOf } from '../../lib/config/global-routing';
import { continentOfCountry, knownCountries } from './geo-router-countries';
import {
  SERVED_REGION_HEADER,
  VIEWER_REGION_HEADER,
  hasHomePin,
  routeRequest,
  startGeoRouter,
  viewerRegionOf,
  type GeoRouter,
} from './geo-router';

const REGIONS = ['us-east-1', 'eu-west-1', 'ap-southeast-2'];

describe('routeRequest (the table of lib/config/global-routing.ts)', () => {
  test.each([
    ['US', 'us-east-1'],
    ['CA', 'us-east-1'],
    ['FR', 'eu-west-1'],
    ['de', 'eu-west-1'],
    ['JP', 'ap-southeast-2'],
    ['AU', 'ap-southeast-2'],
    // continents no region claims, unknown and missing countries: the `*` default (home)
    ['BR', 'us-east-1'],
    ['ZA', 'us-east-1'],
    ['ZZ', 'us-east-1'],
    [undefined, 'us-east-1'],
  ])('a GET from %s is served in %s', (country, region) => {
    expect(routeRequest({ method: 'GET', country, regions: REGIONS })).toEqual({
      viewerRegion: region,
      region,
      reason: 'viewer-region',
    });
  });

  test.each(['POST', 'PUT', 'PATCH', 'DELETE'])('%s from Europe goes home', (method) => {
    expect(routeRequest({ method, country: 'FR', regions: REGIONS })).toEqual({
      viewerRegion: 'eu-west-1',
      region: 'us-east-1',
      reason: 'write-goes-home',
    });
  });

  test('HEAD and OPTIONS stay in the region; the home pin cookie sends a read home', () => {
    for (const method of ['HEAD', 'OPTIONS', 'get'])
      expect(routeRequest({ method, country: 'JP', regions: REGIONS }).region).toBe('ap-southeast-2');
    const pinned = routeRequest({
      method: 'GET',
      country: 'JP',
      cookie: `sid=abc; ${HOME_PIN_COOKIE}=1`,
      regions: REGIONS,
    });
    expect(pinned).toEqual({
      viewerRegion: 'ap-southeast-2',
      region: 'us-east-1',
      reason: 'home-pin-cookie',
    });
    // a cookie whose name merely contains the pin's name does not pin
    expect(hasHomePin(`x${HOME_PIN_COOKIE}=1; sid=a`)).toBe(false);
    expect(hasHomePin(`${HOME_PIN_COOKIE}=1`)).toBe(true);
  });

  test('an unhealthy region fails over to failoverRegionOf; writes and pinned reads never move (as at the edge)', () => {
    const down = (dead: string) => (region: string) => region !== dead;
    expect(
      routeRequest({ method: 'GET', country: 'FR', regions: REGIONS, healthy: down('eu-west-1') }),
    ).toEqual({
      viewerRegion: 'eu-west-1',
      region: failoverRegionOf('eu-west-1', REGIONS),
      reason: 'failover',
    });
    expect(
      routeRequest({ method: 'GET', country: 'AU', regions: REGIONS, healthy: down('ap-southeast-2') })
        .region,
    ).toBe('us-east-1');
    const homeDown = down('us-east-1');
    expect(routeRequest({ method: 'GET', country: 'US', regions: REGIONS, healthy: homeDown }).region).toBe(
      'eu-west-1',
    );
    expect(routeRequest({ method: 'POST', country: 'US', regions: REGIONS, healthy: homeDown }).region).toBe(
      'us-east-1',
    );
    expect(
      routeRequest({
        method: 'GET',
        country: 'JP',
        cookie: `${HOME_PIN_COOKIE}=1`,
        regions: REGIONS,
        healthy: homeDown,
      }).region,
    ).toBe('us-east-1');
  });

  test('writerRegion (-c writerRegion) takes writes, pinned reads and the default; failover pairs stay in order', () => {
    const moved = { regions: REGIONS, writerRegion: 'eu-west-1' };
    expect(routeRequest({ ...moved, method: 'POST', country: 'US' })).toEqual({
      viewerRegion: 'us-east-1',
      region: 'eu-west-1',
      reason: 'write-goes-home',
    });
    expect(routeRequest({ ...moved, method: 'GET', country: 'JP', cookie: `${HOME_PIN_COOKIE}=1` })).toEqual({
      viewerRegion: 'ap-southeast-2',
      region: 'eu-west-1',
      reason: 'home-pin-cookie',
    });
    // the `*` default record leads to the writer region's failover pair
    for (const country of ['BR', 'ZZ', undefined])
      expect(routeRequest({ ...moved, method: 'GET', country }).viewerRegion).toBe('eu-west-1');
    // the former first region's viewers are still its own, and fail over to the next region in order
    const firstDown = (region: string) => region !== 'us-east-1';
    expect(routeRequest({ ...moved, method: 'GET', country: 'US', healthy: firstDown })).toEqual({
      viewerRegion: 'us-east-1',
      region: failoverRegionOf('us-east-1', REGIONS),
      reason: 'failover',
    });
    expect(() => routeRequest({ ...moved, writerRegion: 'sa-east-1', method: 'GET' })).toThrow(
      /writer region sa-east-1 is not one of us-east-1, eu-west-1, ap-southeast-2/,
    );
  });

  test('continents given in the config replace the defaults', () => {
    const continents = { 'us-east-1': ['NA', 'SA'], 'eu-west-1': ['EU', 'AF'], 'ap-southeast-2': ['OC'] };
    expect(viewerRegionOf('BR', REGIONS, continents)).toBe('us-east-1');
    expect(viewerRegionOf('ZA', REGIONS, continents)).toBe('eu-west-1');
    expect(viewerRegionOf('JP', REGIONS, continents)).toBe('us-east-1');
    expect(viewerRegionOf('NZ', REGIONS, continents)).toBe('ap-southeast-2');
  });

  test('the country table covers every ISO country once, with Route 53 continent codes', () => {
    const codes = knownCountries();
    expect(new Set(codes).size).toBe(codes.length);
    expect(codes.length).toBeGreaterThanOrEqual(245);
    for (const code of codes) expect(code).toMatch(/^[A-Z]{2}$/);
    expect([continentOfCountry('GB'), continentOfCountry('nz'), continentOfCountry(' ar ')]).toEqual([
      'EU',
      'OC',
      'SA',
    ]);
  });
});

/** A stand-in regional gateway: answers every request with its region and what it saw; /readyz as set. */
interface FakeRegion {
  name: string;
  url: string;
  ready: boolean;
  requests: { method: string; url: string; body: string }[];
  server: http.Server;
}

async function fakeRegion(name: string): Promise<FakeRegion> {
  const region: FakeRegion = { name, url: '', ready: true, requests: [], server: http.createServer() };
  region.server.on('request', (req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      if (req.url === '/readyz') {
        res.writeHead(region.ready ? 200 : 503).end();
        return;
      }
      region.requests.push({ method: req.method!, url: req.url!, body });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ region: name, body }));
    });
  });
  await new Promise<void>((resolve) => region.server.listen(0, '127.0.0.1', resolve));
  region.url = `http://127.0.0.1:${(region.server.address() as AddressInfo).port}`;
  return region;
}

describe('the geo router in front of three regions', () => {
  const INTERVAL = 200;
  const THRESHOLD = 2;
  let regions: FakeRegion[];
  let router: GeoRouter;

  beforeAll(async () => {
    regions = await Promise.all(REGIONS.map(fakeRegion));
    router = await startGeoRouter({
      regions,
      healthCheckIntervalMs: INTERVAL,
      failureThreshold: THRESHOLD,
    });
  });
  afterAll(async () => {
    await router?.close();
    await Promise.all(
      (regions ?? []).map((r) => new Promise((resolve) => r.server.close(resolve).closeAllConnections())),
    );
  });

  const call = async (method: string, country?: string, cookie?: string, body?: string) => {
    const response = await fetch(`${router.url}/api/products?x=1`, {
      method,
      headers: {
        ...(country ? { 'CloudFront-Viewer-Country': country } : {}),
        ...(cookie ? { cookie } : {}),
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body,
    });
    return {
      status: response.status,
      served: response.headers.get(SERVED_REGION_HEADER),
      viewer: response.headers.get(VIEWER_REGION_HEADER),
      body: (await response.json()) as { region?: string; body?: string; error?: string },
    };
  };

  test('reads reach the viewer region, writes (with their body) and pinned reads reach home', async () => {
    const read = await call('GET', 'FR');
    expect([read.status, read.served, read.viewer, read.body.region]).toEqual([
      200,
      'eu-west-1',
      'eu-west-1',
      'eu-west-1',
    ]);
    expect(regions[1].requests.at(-1)).toEqual({ method: 'GET', url: '/api/products?x=1', body: '' });
    const write = await call('POST', 'FR', undefined, '{"a":1}');
    expect([write.status, write.served, write.body.region, write.body.body]).toEqual([
      200,
      'us-east-1',
      'us-east-1',
      '{"a":1}',
    ]);
    const pinned = await call('GET', 'AU', `${HOME_PIN_COOKIE}=1`);
    expect([pinned.served, pinned.viewer, pinned.body.region]).toEqual([
      'us-east-1',
      'ap-southeast-2',
      'us-east-1',
    ]);
  });

  test('setWriterRegion moves writes, pinned reads and the default, and refuses a region it does not front', async () => {
    expect(router.writerRegion).toBe('us-east-1');
    router.setWriterRegion('eu-west-1');
    try {
      const write = await call('POST', 'US', undefined, '{"b":2}');
      expect([write.served, write.body.region, write.body.body]).toEqual([
        'eu-west-1',
        'eu-west-1',
        '{"b":2}',
      ]);
      expect((await call('GET', 'AU', `${HOME_PIN_COOKIE}=1`)).body.region).toBe('eu-west-1');
      expect((await call('GET', 'BR')).body.region).toBe('eu-west-1');
      expect((await call('GET', 'US')).body.region).toBe('us-east-1');
      expect(() => router.setWriterRegion('sa-east-1')).toThrow(/no region "sa-east-1" behind the router/);
      expect(router.writerRegion).toBe('eu-west-1');
    } finally {
      router.setWriterRegion('us-east-1');
    }
    expect((await call('POST', 'FR', undefined, '{}')).served).toBe('us-east-1');
  });

  test('an unready region loses its reads within interval × threshold, and gets them back when ready', async () => {
    const eu = regions[1];
    eu.ready = false;
    const since = performance.now();
    const change = await router.waitForHealth('eu-west-1', false, 10 * INTERVAL * THRESHOLD);
    // one check may be just under way when it turns unready: up to one interval more, plus the checks themselves
    expect(change!.at - since).toBeLessThanOrEqual(INTERVAL * (THRESHOLD + 1) + 500);
    const moved = await call('GET', 'DE');
    expect([moved.served, moved.viewer, moved.body.region]).toEqual([
      failoverRegionOf('eu-west-1', REGIONS),
      'eu-west-1',
      'ap-southeast-2',
    ]);
    eu.ready = true;
    await router.waitForHealth('eu-west-1', true, 10 * INTERVAL * THRESHOLD);
    expect((await call('GET', 'DE')).served).toBe('eu-west-1');
  });

  test('a region that is gone answers 502 until its health check fails, then its traffic moves', async () => {
    const ap = regions[2];
    await new Promise((resolve) => ap.server.close(resolve).closeAllConnections());
    const early = await call('GET', 'JP');
    if (router.healthy('ap-southeast-2')) {
      expect(early.status).toBe(502);
      expect(early.body.error).toMatch(/region ap-southeast-2 did not answer/);
    }
    await router.waitForHealth('ap-southeast-2', false, 10 * INTERVAL * THRESHOLD);
    const moved = await call('GET', 'JP');
    expect([moved.status, moved.served]).toEqual([200, 'us-east-1']);
  });

  test('injected inter-region latency is added only outside the viewer region', async () => {
    router.setInterRegionLatency(150);
    try {
      const timed = async (method: string, country: string) => {
        const start = performance.now();
        const r = await call(method, country, undefined, method === 'POST' ? '{}' : undefined);
        return { served: r.served, ms: performance.now() - start };
      };
      const local = await timed('GET', 'US');
      const remote = await timed('POST', 'FR');
      expect(local.served).toBe('us-east-1');
      expect(remote.served).toBe('us-east-1');
      expect(remote.ms).toBeGreaterThanOrEqual(150);
      expect(local.ms).toBeLessThan(150);
    } finally {
      router.setInterRegionLatency(0);
    }
  });
});
