/**
 * The stages the blueprint ships, in upgrade order. Only `bin/` and tools pick a stage by its id.
 */
import { networkContinuityProblems, StageConfigError } from '../lib/config/validate-stage-config';
import { stage100k } from './100k';
import { stage10k } from './10k';
import { stage1k } from './1k';
import { stage1m } from './1m';
import { stageGlobal } from './global';
import type { StageConfig } from './stage-config';

export * from './stage-config';
export { stage1k } from './1k';
export { stage10k } from './10k';
export { stage100k } from './100k';
export { stage1m } from './1m';
export { stageGlobal } from './global';

/** Every implemented stage id, in upgrade order; later stages are appended. */
export const stageIds: readonly string[] = ['1k', '10k', '100k', '1m', 'global'];

/** Every implemented stage by id. */
export const stages: Readonly<Record<string, StageConfig>> = {
  '1k': stage1k,
  '10k': stage10k,
  '100k': stage100k,
  '1m': stage1m,
  global: stageGlobal,
};

/**
 * The deployment context a stage cannot be synthesised without (besides cdk.json's defaults), as `-c` values:
 * what the tests, the docs and cost generators, the upgrade diff and the benchmarks pass for it. A real
 * deployment passes its own (`cdk synth -c stage=global` without them fails, naming each key and the fix).
 *
 * Stage `global` needs its regions (home first), a domain in a hosted zone (the edge's and each region's
 * certificates, the API hostnames) and the front door behind that domain (the API gateway); the hosted zone id
 * is an example that no account has.
 */
export const stageContexts: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  global: {
    regions: 'us-east-1,eu-west-1,ap-southeast-2',
    domainName: 'shop.example.com',
    hostedZoneId: 'Z0123456789ABCDEFGHIJ',
    hostedZoneName: 'example.com',
    // The finished upgrade: the domain on CloudFront (during it, `gateway`: docs/upgrades/1m-to-global.md).
    frontDoor: 'edge',
  },
};

/**
 * The example deployment context of a stage ({@link stageContexts}); empty for a stage that needs none.
 *
 * @param id - stage id, e.g. `global`
 */
export function stageContext(id: string): Readonly<Record<string, string>> {
  return Object.prototype.hasOwnProperty.call(stageContexts, id) ? stageContexts[id]! : {};
}

/**
 * What a stage changes that the stage before it made permanent (the VPC's CIDR and AZ count): empty for
 * the first stage and for a sound one.
 *
 * @param id - stage id, e.g. `10k`
 * @param registry - stage ids in upgrade order and their configs (tests pass their own)
 */
export function stageSequenceProblems(
  id: string,
  registry: { readonly ids: readonly string[]; readonly stages: Readonly<Record<string, StageConfig>> } = {
    ids: stageIds,
    stages,
  },
): ReturnType<typeof networkContinuityProblems> {
  const previousId = registry.ids[registry.ids.indexOf(id) - 1];
  const previous = previousId !== undefined ? registry.stages[previousId] : undefined;
  const config = registry.stages[id];
  if (previousId === undefined || previous === undefined || config === undefined) return [];
  return networkContinuityProblems({ id: previousId, network: previous.network }, config.network);
}

/**
 * The configuration of a stage.
 *
 * @param id - stage id, e.g. `10k`
 * @throws Error naming the unknown id and listing the valid ones
 * @throws StageConfigError when the stage changes what the stage before it made permanent
 */
export function stageById(id: string): StageConfig {
  const config = Object.prototype.hasOwnProperty.call(stages, id) ? stages[id] : undefined;
  if (config === undefined) {
    throw new Error(
      `Unknown stage "${id}" (context key "stage"). Valid stages: ${stageIds.join(', ')}. ` +
        `Fix: pass one of them, e.g. "-c stage=${stageIds[0]}".`,
    );
  }
  const problems = stageSequenceProblems(id);
  if (problems.length > 0) throw new StageConfigError(problems);
  return config;
}
