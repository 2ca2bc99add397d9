/**
 * Stage global apps for the edge tests: the registered stage global (its `global` section overridable) in three
 * regions with the domain and hosted zone.
 */
import type { Stack } from 'aws-cdk-lib';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import type { GlobalConfig, StageConfig } from '../../lib/config/stage-config';
import { stageGlobal } from '../../stages';

/** The regions of the test deployment, home first. */
export const REGIONS = ['us-east-1', 'eu-west-1', 'ap-southeast-2'] as const;
/** The test deployment's domain. */
export const DOMAIN = 'shop.example.com';
/** The test deployment's hosted zone. */
export const HOSTED_ZONE = { hostedZoneId: 'Z0123456789ABCDEFGHIJ', zoneName: 'example.com' } as const;
/** The placeholder account of the default context. */
export const ACCOUNT = '123456789012';

/** Context of a stage global deployment (home us-east-1 unless `regions` says otherwise). */
export function globalContext(regions: readonly string[] = REGIONS): Record<string, unknown> {
  return {
    region: regions[0],
    availabilityZones: ['a', 'b', 'c'].map((zone) => `${regions[0]}${zone}`),
    regions: regions.join(','),
    domainName: DOMAIN,
    hostedZoneId: HOSTED_ZONE.hostedZoneId,
    hostedZoneName: HOSTED_ZONE.zoneName,
    frontDoor: 'edge',
  };
}

/** Stage global, with `global`'s sections replaced by those given. */
export function globalStage(global: Partial<GlobalConfig> = {}): StageConfig {
  return { ...stageGlobal, global: { ...stageGlobal.global, ...global } };
}

/** The synthesised template of a stack of `assembly`. */
export function templateOf(assembly: CloudAssembly, stack: Stack): Record<string, unknown> {
  return assembly.getStackArtifact(stack.artifactId).template as Record<string, unknown>;
}
