/**
 * Synthesising the blueprint's stages offline, for the diff CLI, the upgrade tests and the docs generator.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DISABLE_ASSET_STAGING_CONTEXT, PATH_METADATA_ENABLE_CONTEXT } from 'aws-cdk-lib/cx-api';
import { createBlueprintApp } from '../../lib/blueprint';
import { stageById, stageContext, stageIds } from '../../stages';
import type { AssemblyTemplates } from './assembly';
import { cdkJsonContext, synthTemplates } from './synth';
import { cachedBuild, synthCacheDir } from './synth-cache';

/** A stage's configuration, as `stages/index.ts` hands it out. */
export type BlueprintStageConfig = ReturnType<typeof stageById>;

/** Every stage id, in upgrade order (re-exported so tools need one import). */
export const allStageIds: readonly string[] = stageIds;

/** Consecutive stage pairs (`[['1k', '10k'], ...]`): the supported in-place upgrades. */
export function consecutiveStagePairs(ids: readonly string[] = allStageIds): [string, string][] {
  return ids.slice(1).map((to, index) => [ids[index] as string, to]);
}

/**
 * Synthesises one stage (or a variant of its configuration) offline and returns its templates.
 *
 * Context is the repository's cdk.json plus construct-path metadata (so diffs name construct paths, as
 * `cdk diff` does) and disabled asset staging (the image's build context is not copied; synth is faster
 * and the templates are unchanged). cdk-nag and CDK's CloudFormation validation are off: they check
 * compliance and template errors (their own tests do), not what an upgrade does, and cost most of a synth.
 *
 * @param id - stage id, e.g. `10k`
 * @param config - configuration to synthesise instead of the stage's own (growth variants in tests)
 */
export function synthStage(id: string, config: BlueprintStageConfig = stageById(id)): AssemblyTemplates {
  const context = {
    ...cdkJsonContext(),
    // The stage's example context (stage global's regions, domain and front door).
    ...stageContext(id),
    [PATH_METADATA_ENABLE_CONTEXT]: true,
    [DISABLE_ASSET_STAGING_CONTEXT]: true,
  };
  return synthTemplates((outdir) =>
    createBlueprintApp({ config, context, outdir, nag: false, cloudFormationValidation: false }),
  );
}

const cache = new Map<string, AssemblyTemplates>();

/**
 * `synthStage(id)`, synthesised once per process (tests and the docs generator share a stage's templates), and
 * in a test run once for all its processes (the run's synth cache, synth-cache.ts).
 */
export function synthStageCached(id: string): AssemblyTemplates {
  let templates = cache.get(id);
  if (!templates) {
    const cacheDir = synthCacheDir();
    if (cacheDir === undefined) templates = synthStage(id);
    else {
      const entry = cachedBuild(cacheDir, `tools/upgrade/stage-synth ${id}`, (dir) => {
        writeFileSync(join(dir, 'templates.json'), JSON.stringify(synthStage(id)));
        return '';
      });
      templates = JSON.parse(readFileSync(join(entry.dir, 'templates.json'), 'utf8')) as AssemblyTemplates;
    }
    cache.set(id, templates);
  }
  return templates;
}
