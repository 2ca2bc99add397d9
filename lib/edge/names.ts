/**
 * Names and places of the edge (stage global): deterministic, so that the stacks of different regions find each
 * other's resources by name instead of by a CDK cross-region reference.
 */

/** CloudFront's region: its certificate, its WAF web ACL (scope CLOUDFRONT) and the edge stack live here. */
export const EDGE_REGION = 'us-east-1';

/**
 * Physical name of the storefront bucket of a region, `<prefix>-storefront-<account>-<region>` (bucket names are
 * global: the account and region make it unique; at most 16 + 12 + 14 + 12 characters, well under 63).
 */
export function storefrontBucketName(prefix: string, account: string, region: string): string {
  return `${prefix}-storefront-${account}-${region}`;
}

/**
 * The region of the storefront's failover copy: the deployment's second region, or its third when the second is
 * the edge region itself (a copy beside the primary bucket would not survive that region's outage).
 *
 * @throws Error when no region of the deployment other than the edge region exists
 */
export function storefrontReplicaRegion(regions: readonly string[]): string {
  const replica = regions.slice(1).find((region) => region !== EDGE_REGION);
  if (replica === undefined) {
    throw new Error(
      `storefrontReplicaRegion: the regions ${regions.join(', ')} hold none besides the home region and ` +
        `${EDGE_REGION}; stage global needs at least three regions (-c regions=home,second,third)`,
    );
  }
  return replica;
}

/**
 * The name the edge stack publishes for the distribution, e.g. `edge.shop.example.com`: the home region's record
 * of the domain itself aliases it (one stack per record; see docs/upgrades/1m-to-global-edge.md).
 */
export function edgeHostname(domainName: string): string {
  return `edge.${domainName}`;
}
