/**
 * `npm run cost -- <stage> [--region us-east-1] [--tasks min|max] [--format text|markdown|json]`: the monthly
 * on-demand cost of a stage, from its synthesised templates. Exit codes: 0 done, 2 usage error, 3 the stage
 * failed to synthesise or something in it has no price.
 */
import { allStageIds, synthStage } from '../upgrade/stage-synth';
import { runCost } from './run';

process.exitCode = runCost(process.argv.slice(2), {
  stageIds: allStageIds,
  synth: synthStage,
  stdout: process.stdout,
  stderr: process.stderr,
});
