/**
 * Growth inside a stage, derived from the stage's own configuration: what an operator turns up when the
 * metrics say so, without moving to the next stage. Only objects the stage already has are grown.
 */
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { StageConfig } from '../../stages';

/** A named variant of a stage configuration. */
export interface GrowthVariant {
  /** What was grown, e.g. `one more reader, cache.t4g.medium`. */
  readonly name: string;
  readonly config: StageConfig;
}

const sizes = [
  'nano',
  'micro',
  'small',
  'medium',
  'large',
  'xlarge',
  '2xlarge',
  '4xlarge',
  '8xlarge',
  '12xlarge',
  '16xlarge',
];

/** The next size of an instance or node type name (`cache.t4g.small` -> `cache.t4g.medium`). */
export function nextSize(typeName: string): string {
  const parts = typeName.split('.');
  const size = parts[parts.length - 1] ?? '';
  const next = sizes[sizes.indexOf(size) + 1];
  if (sizes.indexOf(size) < 0 || !next) throw new Error(`Cannot grow "${typeName}": unknown size "${size}".`);
  return [...parts.slice(0, -1), next].join('.');
}

/**
 * Everything a stage can grow by, applied together (each change is independent, and an unsafe one cannot
 * be hidden by another), plus its name for test titles. One synth per stage keeps the suite fast.
 */
export function grownStage(config: StageConfig): GrowthVariant {
  const grown: string[] = [];
  let { service, database, cache } = config;

  if (service.autoscaling) {
    service = {
      ...service,
      autoscaling: {
        ...service.autoscaling,
        minCapacity: service.autoscaling.minCapacity + 1,
        maxCapacity: service.autoscaling.maxCapacity * 2,
      },
    };
    grown.push('higher autoscaling min and max');
  } else {
    service = { ...service, desiredCount: service.desiredCount + 1 };
    grown.push('one more task');
  }

  database = {
    ...database,
    writer: { instanceType: new ec2.InstanceType(nextSize(database.writer.instanceType.toString())) },
  };
  grown.push('bigger writer class');
  if (database.readers) {
    database = { ...database, readers: { ...database.readers, count: database.readers.count + 1 } };
    grown.push('one more reader');
  }

  if (cache) {
    cache = {
      ...cache,
      cacheNodeType: nextSize(cache.cacheNodeType),
      numCacheClusters: cache.numCacheClusters + 1,
    };
    grown.push('bigger Redis node type, one more Redis replica');
  }

  let { shards } = config;
  const shardIds = Object.keys(shards ?? {});
  if (shards && shardIds.length > 0) {
    // One more shard, like the last one, under the next free id (`s2` after `s1`).
    const last = shards[shardIds[shardIds.length - 1]!]!;
    let next = shardIds.length + 1;
    while (`s${next}` in shards) next += 1;
    shards = { ...shards, [`s${next}`]: last };
    grown.push(`one more shard (s${next})`);
  }

  return {
    name: grown.join(', '),
    config: { ...config, service, database, ...(cache ? { cache } : {}), ...(shards ? { shards } : {}) },
  };
}
