/** Jest's global tear-down: removes the run's synthesis cache (see global-setup.ts). */
import { rmSync } from 'node:fs';
import { SYNTH_CACHE_DIR_ENV, synthCacheDir } from '../../tools/upgrade/synth-cache';

export default function globalTeardown(): void {
  const dir = synthCacheDir();
  if (dir) rmSync(dir, { recursive: true, force: true });
  delete process.env[SYNTH_CACHE_DIR_ENV];
}
