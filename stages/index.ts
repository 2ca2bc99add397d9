/**
 * The stages the blueprint ships, in upgrade order. Only `bin/` and tools pick a stage by its id.
 */
import { networkContinuityProblems, StageConfigError } from '../lib/config/validate-stage-config';
import { stage100k } from './100k';
import { stage10k } from './10k';
import { stage1k } from './1k';
import { stage1m } from './1m';
import type { StageConfig } from './stage-config';

export * from './stage-config';
export { stage1k } from './1k';
export { stage10k } from './10k';
export { stage100k } from './100k';
export { stage1m } from './1m';

/** Every implemented stage id, in upgrade order; later stages are appended. */
export const stageIds: readonly string[] = ['1k', '10k', '100k', '1m'];

/** Every implemented stage by id. */
export const stages: Readonly<Record<string, StageConfig>> = {
  '1k': stage1k,
  '10k': stage10k,
  '100k': stage100k,
  '1m': stage1m,
};

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
