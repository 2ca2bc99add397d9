/**
 * Stage global's sessions across regions: the rules of an ElastiCache Global Datastore (AWS ElastiCache user
 * guide, "Global Datastore": prerequisites and limitations) checked before anything is built, and the
 * datastore's deterministic id, which every secondary region names without a cross-region reference.
 */
import { Token } from 'aws-cdk-lib';
import type { ConfigProblem } from './deployment-context';

/**
 * The prefix ElastiCache puts before a Global Datastore's id suffix, by the region the datastore is created in
 * (its primary's region), from the ElastiCache user guide, "Using global datastores (CLI)". A secondary region
 * joins the datastore by this full id (`<prefix>-<suffix>`).
 */
export const GLOBAL_DATASTORE_ID_PREFIXES: Readonly<Record<string, string>> = {
  'us-east-1': 'ldgnf',
  'us-east-2': 'fpkhr',
  'us-west-1': 'virxk',
  'us-west-2': 'sgaui',
  'ca-central-1': 'bxodz',
  'ap-south-1': 'erpgt',
  'ap-northeast-1': 'quwsw',
  'ap-northeast-2': 'lfqnh',
  'ap-northeast-3': 'nlapn',
  'ap-southeast-1': 'vlqxn',
  'ap-southeast-2': 'vbgxd',
  'ap-east-1': 'knjmp',
  'eu-central-1': 'iudkw',
  'eu-west-1': 'gxeiz',
  'eu-west-2': 'okuqm',
  'eu-west-3': 'fgjhi',
  'sa-east-1': 'juxlw',
  'cn-north-1': 'emvgo',
  'cn-northwest-1': 'ckbem',
};

/** Regions a Global Datastore spans at most: its primary and two secondaries. */
export const GLOBAL_DATASTORE_MAX_REGIONS = 3;

/** The suffix of the sessions' Global Datastore id: the deployment's prefix and `sessions`. */
export function globalDatastoreSuffix(prefix: string): string {
  return `${prefix}-sessions`;
}

/**
 * The full id of the sessions' Global Datastore whose primary is in `homeRegion`, e.g.
 * `ldgnf-shop-sessions` for us-east-1.
 *
 * @throws Error when ElastiCache's prefix of the region is not known ({@link globalSessionsRegionProblems}
 *   reports it first, naming the fix)
 */
export function globalDatastoreId(prefix: string, homeRegion: string): string {
  const regionPrefix = GLOBAL_DATASTORE_ID_PREFIXES[homeRegion];
  if (regionPrefix === undefined) {
    throw new Error(`globalDatastoreId: no Global Datastore id prefix is known for ${homeRegion}`);
  }
  return `${regionPrefix}-${globalDatastoreSuffix(prefix)}`;
}

/** Node families Global Datastore does not take: burstable (t*) and previous generations (m1-m4, r3, r4, c1). */
const UNSUPPORTED_FAMILY = /^(t\d.*|m[1-4]|r[34]|c1)$/;
/** Sizes below large. */
const SMALL_SIZE = /^(nano|micro|small|medium)$/;

/** Whether `nodeType` (`cache.<family>.<size>`) is a Global Datastore node: a current family, large or bigger. */
export function isGlobalDatastoreNodeType(nodeType: string): boolean {
  const match = /^cache\.([a-z0-9-]+)\.([a-z0-9]+)$/.exec(nodeType);
  if (match === null) return false;
  const [, family, size] = match as unknown as [string, string, string];
  return !UNSUPPORTED_FAMILY.test(family) && !SMALL_SIZE.test(size) && /large$/.test(size);
}

/**
 * Every problem of a stage's `global.sessions` against its `cache` (called by `validateStageConfig`): a stage with
 * `global` needs a cache (its group becomes the datastore's primary), of a Global Datastore node type (large or
 * bigger, not burstable, current generation), and `global.sessions.cacheNodeType`, when given, must be that node
 * type (every member of a datastore has the primary's).
 */
export function globalSessionsConfigProblems(config: Readonly<Record<string, unknown>>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const global = config.global;
  if (global === undefined || global === null || typeof global !== 'object') return problems;
  const cache = config.cache as Readonly<Record<string, unknown>> | undefined;
  if (cache === undefined || cache === null || typeof cache !== 'object') {
    problems.push({
      key: 'cache',
      received: cache,
      fix: 'give stage global a cache (e.g. { cacheNodeType: "cache.r7g.large", numCacheClusters: 2 }): its group becomes the primary of the sessions\' Global Datastore',
    });
    return problems;
  }
  const nodeType = cache.cacheNodeType;
  if (typeof nodeType === 'string' && !Token.isUnresolved(nodeType) && !isGlobalDatastoreNodeType(nodeType)) {
    problems.push({
      key: 'cache.cacheNodeType',
      received: nodeType,
      fix: 'use a node type Global Datastore supports: large or bigger of a current family (e.g. "cache.r7g.large", "cache.m7g.large"); burstable (t*) and small nodes cannot join one',
    });
  }
  const sessions = (global as Readonly<Record<string, unknown>>).sessions as
    Readonly<Record<string, unknown>> | undefined;
  const sessionsNodeType = sessions?.cacheNodeType;
  if (
    sessionsNodeType !== undefined &&
    !Token.isUnresolved(sessionsNodeType) &&
    !Token.isUnresolved(nodeType) &&
    sessionsNodeType !== nodeType
  ) {
    problems.push({
      key: 'global.sessions.cacheNodeType',
      received: sessionsNodeType,
      fix: `leave it out or set it to cache.cacheNodeType (${String(nodeType)}): the home region's cache group is the datastore's primary, and every member of a Global Datastore has the primary's node type (change cache.cacheNodeType to resize them all)`,
    });
  }
  return problems;
}

/**
 * Every problem of the deployment's regions for the sessions' Global Datastore, for a stage with `global`: at most
 * three regions (a primary and two secondaries), and a home region whose datastore id prefix is known.
 */
export function globalSessionsRegionProblems(
  config: Readonly<Record<string, unknown>>,
  regions: readonly string[],
): ConfigProblem[] {
  if (config.global === undefined) return [];
  const problems: ConfigProblem[] = [];
  if (regions.length > GLOBAL_DATASTORE_MAX_REGIONS) {
    problems.push({
      key: 'context.regions',
      received: regions.join(','),
      fix: `name at most ${GLOBAL_DATASTORE_MAX_REGIONS} regions (the home region first): an ElastiCache Global Datastore, which carries the sessions, has a primary and at most two secondary regions`,
    });
  }
  const home = regions[0];
  if (home !== undefined && GLOBAL_DATASTORE_ID_PREFIXES[home] === undefined) {
    problems.push({
      key: 'context.regions',
      received: home,
      fix: `choose a home region with a known Global Datastore id prefix (${Object.keys(GLOBAL_DATASTORE_ID_PREFIXES).join(', ')}), or add the region's prefix from the ElastiCache guide ("Using global datastores (CLI)") to GLOBAL_DATASTORE_ID_PREFIXES`,
    });
  }
  return problems;
}
