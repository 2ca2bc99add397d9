/**
 * A synthesis cache shared by the processes of one test run: the first process that needs a stage synthesises
 * it, every other one reads what it wrote. Synth is the slow part of the infrastructure tests, and jest runs each
 * test file in a process of its own, so without this every file synthesised the same stages again.
 *
 * The cache lives only as long as one `jest` run: its directory comes from `SYNTH_CACHE_DIR`, which the run's
 * global set-up creates (test/support/global-setup.ts) and its tear-down removes. Without it (a script, the CLI),
 * nothing is cached across processes. Entries are keyed by everything that goes into the synth (stage id, context,
 * plugins); a test that builds its own configuration does not use the cache.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The environment variable naming the run's cache directory. */
export const SYNTH_CACHE_DIR_ENV = 'SYNTH_CACHE_DIR';

/** How long a process waits for another one's synth of the same entry before it gives up. */
const WAIT_LIMIT_MS = 10 * 60_000;

/** The run's cache directory, or undefined outside a test run. */
export function synthCacheDir(): string | undefined {
  return process.env[SYNTH_CACHE_DIR_ENV] || undefined;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The directory of a cache entry, built by `build` into that directory once per run (by whichever process asks
 * first; the others wait for it). `build` returns a text kept with the entry (what the synth printed).
 *
 * Synchronous, like `app.synth()`: tests synthesise while jest collects them. A build that throws leaves no entry
 * (the next process to ask builds again and meets the same error); a process that died while building leaves a
 * lock that the next one takes over.
 *
 * @param cacheDir - the run's cache directory ({@link synthCacheDir})
 * @param key - everything the entry depends on, as a string
 * @returns the entry's directory and the text `build` returned
 */
export function cachedBuild(
  cacheDir: string,
  key: string,
  build: (dir: string) => string,
): { dir: string; text: string } {
  const dir = join(cacheDir, createHash('sha256').update(key).digest('hex').slice(0, 24));
  const done = join(dir, '.synth-cache-done');
  const lock = `${dir}.lock`;
  const deadline = Date.now() + WAIT_LIMIT_MS;
  for (;;) {
    if (existsSync(done)) return { dir, text: readFileSync(done, 'utf8') };
    try {
      mkdirSync(lock);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // Another process is building it. Take over its lock if that process is gone.
      let owner = NaN;
      try {
        owner = Number(readFileSync(join(lock, 'pid'), 'utf8'));
      } catch {
        // (not written yet)
      }
      if (Number.isInteger(owner) && !alive(owner)) rmSync(lock, { recursive: true, force: true });
      else if (Date.now() > deadline)
        throw new Error(`synth cache: waited ${WAIT_LIMIT_MS} ms for another process to synthesise ${key}`);
      else sleepSync(100);
      continue;
    }
    try {
      writeFileSync(join(lock, 'pid'), String(process.pid));
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      const text = build(dir);
      // The marker last: an entry without it is incomplete, whatever else is in the directory.
      writeFileSync(done, text);
      return { dir, text };
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
}
