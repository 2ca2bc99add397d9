/**
 * How the tests start the app's entry points (the shop server, the migrator, the admin command, the gateway, the
 * shard manager) as processes of their own: from one esbuild bundle of the current sources, built once per jest
 * run, instead of the TypeScript sources under tsx. tsx compiles and links several hundred modules on every start
 * (about 1 s of CPU more than the bundle for the server, measured), and the suite starts dozens of them.
 *
 * The bundle is built by `app/build.mjs` (the Dockerfile's build) on first use, into the run's shared cache
 * directory (tools/upgrade/synth-cache.ts: whichever test process asks first builds, the others wait), and laid out
 * as the image lays it out: `dist/`, `migrations/`, `public/`, and the packages the bundle leaves external.
 * Without a test run's cache directory (`npm run local`, a script), the sources run under tsx as before.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { cachedBuild, synthCacheDir } from '../upgrade/synth-cache';

const repoRoot = path.resolve(__dirname, '../..');

/** The entry points, named as app/build.mjs names their bundles, with their sources. */
const SOURCES = {
  server: 'app/src/server.ts',
  migrate: 'app/src/migrate.ts',
  admin: 'app/src/admin.ts',
  gateway: 'app/src/gateway/server.ts',
  'shards-cli': 'tools/shards/cli.ts',
} as const;

/** An entry point of the app: a bundle of app/build.mjs. */
export type AppEntry = keyof typeof SOURCES;

/**
 * The arguments of `node` (process.execPath) that run `entry`: its bundle in a test run, else its sources under tsx.
 * Synchronous: the first call of a run may build the bundle (seconds), the later ones only look it up.
 */
export function appEntryArgs(entry: AppEntry): string[] {
  const bundle = appBundleDir();
  // Without --enable-source-maps (the image's CMD has it): it costs about 0.25 s of CPU per start, a quarter of
  // what the bundle saves, and stack traces in a test's output then name lines of dist/<entry>.js.
  return bundle
    ? [path.join(bundle, 'dist', `${entry}.js`)]
    : ['--import', 'tsx', path.join(repoRoot, SOURCES[entry])];
}

/** The source file of `entry` (for messages and for tests that run the sources on purpose). */
export function appEntrySource(entry: AppEntry): string {
  return path.join(repoRoot, SOURCES[entry]);
}

/** The run's app bundle (laid out like the image), built on first use; undefined outside a test run. */
export function appBundleDir(): string | undefined {
  const cacheDir = synthCacheDir();
  if (!cacheDir) return undefined;
  return cachedBuild(cacheDir, 'app-bundle', (dir) => {
    const build = spawnSync(process.execPath, ['app/build.mjs', `--outdir=${path.join(dir, 'dist')}`], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    if (build.status !== 0)
      throw new Error(`node app/build.mjs failed (exit ${build.status}):\n${build.stdout}${build.stderr}`);
    // `appRoot` (app/src/paths.ts) is the bundle's parent directory: the migrations and the static files go
    // next to dist/ as the image copies them. PGlite stays a package (build.mjs): the repository's node_modules.
    cpSync(path.join(repoRoot, 'app/migrations'), path.join(dir, 'migrations'), { recursive: true });
    cpSync(path.join(repoRoot, 'app/public'), path.join(dir, 'public'), { recursive: true });
    symlinkSync(path.join(repoRoot, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    return `${build.stdout}${build.stderr}`;
  }).dir;
}
