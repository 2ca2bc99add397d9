/**
 * The stages the blueprint ships, in upgrade order. Only `bin/` and tools pick a stage by its id.
 */
import { stage10k } from './10k';
import { stage1k } from './1k';
import type { StageConfig } from './stage-config';

export * from './stage-config';
export { stage1k } from './1k';
export { stage10k } from './10k';

/** Every implemented stage id, in upgrade order; later stages are appended. */
export const stageIds: readonly string[] = ['1k', '10k'];

/** Every implemented stage by id. */
export const stages: Readonly<Record<string, StageConfig>> = {
  '1k': stage1k,
  '10k': stage10k,
};

/**
 * The configuration of a stage.
 *
 * @param id - stage id, e.g. `10k`
 * @throws Error naming the unknown id and listing the valid ones
 */
export function stageById(id: string): StageConfig {
  const config = Object.prototype.hasOwnProperty.call(stages, id) ? stages[id] : undefined;
  if (config === undefined) {
    throw new Error(
      `Unknown stage "${id}" (context key "stage"). Valid stages: ${stageIds.join(', ')}. ` +
        `Fix: pass one of them, e.g. "-c stage=${stageIds[0]}".`,
    );
  }
  return config;
}
