/**
 * Baselines: a stage's synthesised templates saved as a JSON file, so that a refactor can be diffed
 * against the templates the code produced before it (`test/upgrade/reshape.test.ts`).
 *
 * `npx tsx tools/upgrade/baseline.ts <stage> <file>` writes one. Asset hashes are replaced by a
 * placeholder (as in the snapshots) so that a change to the app's source does not count as a change
 * to the infrastructure; compare a baseline only with templates normalised the same way.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { AssemblyTemplates } from './assembly';

/** 64 hex characters: an asset hash in an image tag, an S3 key or an asset parameter name. */
const ASSET_HASH = /[a-f0-9]{64}/g;

/** Placeholder for an asset hash. */
export const ASSET_HASH_PLACEHOLDER = '<asset-hash>';

/** The templates with every asset hash replaced by {@link ASSET_HASH_PLACEHOLDER} (a deep copy). */
export function normaliseAssetHashes(templates: AssemblyTemplates): AssemblyTemplates {
  return JSON.parse(
    JSON.stringify(templates).replace(ASSET_HASH, ASSET_HASH_PLACEHOLDER),
  ) as AssemblyTemplates;
}

/** Writes normalised templates to a file (stable key order as synthesised, two-space indent). */
export function writeBaseline(file: string, templates: AssemblyTemplates): void {
  writeFileSync(file, `${JSON.stringify(normaliseAssetHashes(templates), null, 1)}\n`);
}

/** Reads a baseline written by {@link writeBaseline}. */
export function readBaseline(file: string): AssemblyTemplates {
  return JSON.parse(readFileSync(file, 'utf8')) as AssemblyTemplates;
}

if (require.main === module) {
  const [stage, file] = process.argv.slice(2);
  if (stage === undefined || file === undefined) {
    process.stderr.write('Usage: npx tsx tools/upgrade/baseline.ts <stage> <file>\n');
    process.exit(2);
  }
  // Imported here so that tests reading baselines do not load the stages.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { synthStage } = require('./stage-synth') as typeof import('./stage-synth');
  writeBaseline(file, synthStage(stage));
  process.stdout.write(`Wrote ${file}\n`);
}
