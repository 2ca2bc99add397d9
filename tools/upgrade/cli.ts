/**
 * `npm run diff -- <from> <to> [--summary]`: what upgrading a deployed stage in place to another stage
 * changes, and whether any data-bearing resource would be replaced or removed. Exit codes: 0 safe,
 * 1 unsafe, 2 usage error, 3 a stage failed to synthesise.
 */
import { runDiff } from './run';
import { allStageIds, synthStage } from './stage-synth';

process.exitCode = runDiff(process.argv.slice(2), {
  stageIds: allStageIds,
  synth: synthStage,
  stdout: process.stdout,
  stderr: process.stderr,
});
