import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { SYNTH_CACHE_DIR_ENV } from '../upgrade/synth-cache';
import { appBundleDir, appEntryArgs, appEntrySource, type AppEntry } from './app-entry';

const repoRoot = path.resolve(__dirname, '../..');
const ENTRIES: AppEntry[] = ['server', 'migrate', 'admin', 'gateway', 'shards-cli'];

describe('outside a test run (npm run local, scripts)', () => {
  const saved = process.env[SYNTH_CACHE_DIR_ENV];
  beforeEach(() => delete process.env[SYNTH_CACHE_DIR_ENV]);
  afterEach(() => {
    if (saved !== undefined) process.env[SYNTH_CACHE_DIR_ENV] = saved;
  });

  test('every entry runs its sources under tsx and nothing is built', () => {
    expect(appBundleDir()).toBeUndefined();
    for (const entry of ENTRIES) {
      expect(appEntryArgs(entry)).toEqual(['--import', 'tsx', appEntrySource(entry)]);
      expect(existsSync(appEntrySource(entry))).toBe(true);
    }
  });
});

describe("in a test run, the run's bundle", () => {
  // GIVEN the run's cache directory (test/support/global-setup.ts)
  beforeAll(() => expect(process.env[SYNTH_CACHE_DIR_ENV]).toBeTruthy());

  test('is built once and laid out like the image: dist/<entry>.js, migrations/, public/, PGlite', () => {
    const dir = appBundleDir()!;
    expect(appBundleDir()).toBe(dir);
    for (const entry of ENTRIES) {
      expect(appEntryArgs(entry)).toEqual([path.join(dir, 'dist', `${entry}.js`)]);
      expect(existsSync(path.join(dir, 'dist', `${entry}.js`))).toBe(true);
    }
    expect(readdirSync(path.join(dir, 'migrations'))).toEqual(
      readdirSync(path.join(repoRoot, 'app/migrations')),
    );
    expect(readdirSync(path.join(dir, 'public'))).toEqual(readdirSync(path.join(repoRoot, 'app/public')));
    expect(existsSync(path.join(dir, 'node_modules/@electric-sql/pglite/package.json'))).toBe(true);
  });

  test('runs the app: the server validates its environment as the sources do', () => {
    const result = spawnSync(process.execPath, appEntryArgs('server'), {
      env: { PATH: process.env.PATH, PORT: 'eighty' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('Invalid configuration: PORT must be integer');
  });
});
