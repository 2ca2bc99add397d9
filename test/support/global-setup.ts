/**
 * Jest's global set-up: the run's synthesis cache (tools/upgrade/synth-cache.ts), a directory the test files'
 * processes share through the environment, removed again by the global tear-down.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SYNTH_CACHE_DIR_ENV } from '../../tools/upgrade/synth-cache';

export default function globalSetup(): void {
  process.env[SYNTH_CACHE_DIR_ENV] = mkdtempSync(join(tmpdir(), 'synth-cache-'));
}
