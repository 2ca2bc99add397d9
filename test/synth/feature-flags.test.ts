/**
 * Tests and `cdk deploy` synthesise with the same feature flags: the tests' apps get DEFAULT_APP_CONTEXT
 * (aws-cdk-lib's recommended flags), the CLI gets cdk.json's `context`. A flag that differs would make the
 * tests check templates that a deploy never produces.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { CURRENTLY_RECOMMENDED_FLAGS, DISABLE_METADATA_STACK_TRACE } from 'aws-cdk-lib/cx-api';
import { CONTEXT_KEYS, DEFAULT_APP_CONTEXT } from '../../lib/config';

const cdkJson = JSON.parse(readFileSync(join(__dirname, '..', '..', 'cdk.json'), 'utf8')) as {
  context: Record<string, unknown>;
};
/** Context keys that are deployment settings, not feature flags. */
const settings = new Set<string>([...Object.values(CONTEXT_KEYS), DISABLE_METADATA_STACK_TRACE]);
const flagsOf = (context: Readonly<Record<string, unknown>>) =>
  Object.fromEntries(Object.entries(context).filter(([key]) => !settings.has(key)));

describe('feature flags', () => {
  test("the flags the tests use equal cdk.json's, flag by flag", () => {
    // GIVEN the context a test app gets, as the app itself reads it back
    const app = new App({ context: { ...DEFAULT_APP_CONTEXT }, autoSynth: false });
    const flags = flagsOf(cdkJson.context);
    // THEN
    expect(Object.keys(flags).length).toBeGreaterThan(50);
    expect(Object.fromEntries(Object.keys(flags).map((key) => [key, app.node.tryGetContext(key)]))).toEqual(
      flags,
    );
    expect(flagsOf(DEFAULT_APP_CONTEXT)).toEqual(flags);
  });

  test('cdk.json sets every flag this aws-cdk-lib recommends (a CDK upgrade adding one fails here)', () => {
    const missing = Object.keys(CURRENTLY_RECOMMENDED_FLAGS).filter((key) => !(key in cdkJson.context));
    expect(missing).toEqual([]);
  });

  test('the check sees a difference: a flag changed in cdk.json would not match', () => {
    const [key, value] = Object.entries(flagsOf(cdkJson.context)).find(([, v]) => typeof v === 'boolean')!;
    const changed = { ...flagsOf(cdkJson.context), [key]: !value };
    expect(flagsOf(DEFAULT_APP_CONTEXT)).not.toEqual(changed);
  });
});
