/**
 * How stage global routes an API request to a region: one table shared by the CloudFront function (edge), the
 * Route 53 records (DNS) and the local geo router (tools/local-topology), so the three agree.
 *
 * - Reads go to the viewer's region (by continent), or to the next healthy region in failover order.
 * - Writes (every method but GET, HEAD and OPTIONS) go to the home region, where the writers are.
 * - A viewer who wrote within the read-your-writes window carries the {@link HOME_PIN_COOKIE} cookie (set by the
 *   home region's app on every successful write, `Max-Age` = the app's `READ_YOUR_WRITES_WINDOW_MS`): their reads
 *   go home too, so they read their own write whatever their region's replica lag.
 */

/** Cookie that pins a viewer's API requests to the home region for the read-your-writes window. */
export const HOME_PIN_COOKIE = 'shop_home_pin';

/** Methods a region other than the home region serves; every other method is routed home. */
export const REGIONAL_METHODS: readonly string[] = ['GET', 'HEAD', 'OPTIONS'];

/** Route 53 continent codes. */
export const CONTINENTS = ['AF', 'AN', 'AS', 'EU', 'NA', 'OC', 'SA'] as const;

/** A Route 53 continent code. */
export type Continent = (typeof CONTINENTS)[number];

/**
 * Continents a region serves by default, by its code's prefix: `us-`/`ca-`/`mx-` North America, `sa-` South
 * America, `eu-` Europe, `af-` Africa, `ap-` Asia and Oceania. `me-` and `il-` regions claim nothing by
 * default (Route 53 files the Middle East under Asia, which an `ap-` region usually serves): give them
 * countries' continents in `global.routing.continents`. A continent no region claims goes to the `*` default
 * (home).
 */
export function continentsOf(region: string): readonly Continent[] {
  const prefix = region.split('-')[0] ?? '';
  switch (prefix) {
    case 'us':
    case 'ca':
    case 'mx':
      return ['NA'];
    case 'sa':
      return ['SA'];
    case 'eu':
      return ['EU'];
    case 'af':
      return ['AF'];
    case 'ap':
      return ['AS', 'OC'];
    default:
      return [];
  }
}

/**
 * The region that takes over `region`'s traffic when it is unhealthy: the next region in the deployment's
 * order (home first), wrapping round to the home region.
 */
export function failoverRegionOf(region: string, regions: readonly string[]): string {
  const index = regions.indexOf(region);
  if (index < 0) throw new Error(`failoverRegionOf: ${region} is not one of ${regions.join(', ')}`);
  return regions[(index + 1) % regions.length] as string;
}

/** The regional API hostname each region publishes to its own front door, e.g. `api-eu-west-1.shop.example.com`. */
export function regionalApiHostname(region: string, domainName: string): string {
  return `api-${region}.${domainName}`;
}

/** The Route 53-routed API hostname CloudFront forwards `/api/*` to, e.g. `api.shop.example.com`. */
export function apiHostname(domainName: string): string {
  return `api.${domainName}`;
}
