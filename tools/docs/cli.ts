/**
 * `npm run docs`: regenerates docs/ (stage pages and upgrade pages) from the synthesised stages.
 */
import { stageById } from '../../stages';
import { allStageIds, synthStageCached } from '../upgrade/stage-synth';
import { repoRoot } from '../upgrade/synth';
import { writePages } from './files';
import { generateDocs } from './generate';

const changed = writePages(repoRoot, generateDocs(allStageIds, synthStageCached, (id) => stageById(id).description));
process.stdout.write(changed.length ? `Updated:\n${changed.map((path) => `  ${path}\n`).join('')}` : 'docs/ is up to date.\n');
