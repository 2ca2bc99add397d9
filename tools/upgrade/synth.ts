/**
 * Offline synthesis into a throw-away directory.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { App } from 'aws-cdk-lib';
import { templatesFromAssembly, type AssemblyTemplates } from './assembly';

/** Repository root (this file lives in tools/upgrade/). */
export const repoRoot = resolve(__dirname, '..', '..');

/**
 * Synthesises an app into a fresh temporary directory, reads every stack's template and removes the
 * directory again (also when synthesis throws).
 *
 * @param buildApp - builds the app with the given output directory
 */
export function synthTemplates(buildApp: (outdir: string) => App): AssemblyTemplates {
  const outdir = mkdtempSync(join(tmpdir(), 'upgrade-synth-'));
  try {
    return templatesFromAssembly(buildApp(outdir).synth());
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/**
 * The `context` block of the repository's cdk.json (feature flags, account, region, availability zones).
 *
 * The CDK CLI hands this to the app; a programmatic synth has to pass it itself so that it synthesises
 * exactly what `cdk synth` would.
 */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(join(repoRoot, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return { ...(cdkJson.context ?? {}) };
}
