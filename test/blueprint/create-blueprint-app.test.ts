import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { DISABLE_ASSET_STAGING_CONTEXT } from 'aws-cdk-lib/cx-api';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { blueprintStacks, createBlueprintApp, STACK_IDS } from '../../lib/blueprint';
import { stage10k, stage1k } from '../../stages';

describe('createBlueprintApp', () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'blueprint-app-'));
    dirs.push(dir);
    return dir;
  };
  afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  test('builds the three stacks with stable ids, without writing anything before synth', () => {
    // GIVEN: asset staging off, as the tools that build every stage run it (staging copies the image's
    // build context while the app is built)
    const outdir = join(tempDir(), 'cdk.out');
    // WHEN
    const app = createBlueprintApp({
      config: stage1k,
      outdir,
      context: { [DISABLE_ASSET_STAGING_CONTEXT]: true },
    });
    // THEN
    expect(app.node.children.filter(Stack.isStack).map((stack) => stack.node.id)).toEqual([
      STACK_IDS.network,
      STACK_IDS.data,
      STACK_IDS.service,
    ]);
    // (the App itself creates the empty output directory)
    expect(readdirSync(outdir)).toEqual([]);
  });

  test('takes account, region, zones and prefix from context, with defaults when there is no cdk.json', () => {
    // WHEN
    const defaults = blueprintStacks(createBlueprintApp({ config: stage1k, nag: false }));
    const custom = blueprintStacks(
      createBlueprintApp({
        config: stage1k,
        nag: false,
        context: {
          account: '111122223333',
          region: 'eu-west-1',
          availabilityZones: 'eu-west-1a,eu-west-1b,eu-west-1c',
          prefix: 'acme',
          // A real account: the deployment must choose HTTPS or plain HTTP (test/service/https.test.ts).
          plainHttp: 'true',
        },
      }),
    );
    // THEN
    expect([defaults.data.account, defaults.data.region, defaults.data.stackName]).toEqual([
      '123456789012',
      'us-east-1',
      'shop-data',
    ]);
    expect([custom.service.account, custom.service.region, custom.service.stackName]).toEqual([
      '111122223333',
      'eu-west-1',
      'acme-service',
    ]);
    expect(custom.network.availabilityZones).toEqual(['eu-west-1a', 'eu-west-1b', 'eu-west-1c']);
    expect(custom.network.vpc.availabilityZones).toEqual(['eu-west-1a', 'eu-west-1b', 'eu-west-1c']);
  });

  test('needs no context lookup when synthesised', () => {
    // WHEN
    const assembly = createBlueprintApp({ config: stage10k, outdir: tempDir(), nag: false }).synth();
    // THEN
    expect(assembly.manifest.missing ?? []).toEqual([]);
    expect(readdirSync(assembly.directory)).toEqual(expect.arrayContaining(['ShopData.template.json']));
  });

  test('registers cdk-nag unless nag is false', () => {
    // GIVEN: the same non-compliant bucket in both apps
    const withNag = createBlueprintApp({ config: stage1k, outdir: tempDir() });
    const withoutNag = createBlueprintApp({ config: stage1k, outdir: tempDir(), nag: false });
    for (const app of [withNag, withoutNag]) new s3.Bucket(blueprintStacks(app).service, 'UnloggedBucket');
    // WHEN / THEN
    expect(() => withNag.synth()).toThrow(/AwsSolutions-S1/);
    expect(() => withoutNag.synth()).not.toThrow();
  });

  describe('CDK built-in CloudFormation validation (cloudFormationValidation)', () => {
    /** Names of the plugins that reported in a synth's validation report. */
    const pluginsRun = (props: Parameters<typeof createBlueprintApp>[0]): string[] => {
      const outdir = tempDir();
      // Synth prints the validation summary (the HTTP-only warning); the report file is what is checked.
      const quiet = jest.spyOn(console, 'error').mockImplementation(() => undefined);
      const assembly = createBlueprintApp({
        ...props,
        outdir,
        nag: false,
        context: { [DISABLE_ASSET_STAGING_CONTEXT]: true, ...(props.context ?? {}) },
      }).synth();
      quiet.mockRestore();
      const report = JSON.parse(readFileSync(join(assembly.directory, 'validation-report.json'), 'utf8')) as {
        pluginReports: { pluginName: string }[];
      };
      return report.pluginReports.map((plugin) => plugin.pluginName);
    };

    test('runs by default (the test suite and library users keep it)', () => {
      expect(pluginsRun({ config: stage1k })).toContain('CloudFormation Validate');
    });

    test('is turned off by the validate context key (-c validate=false)', () => {
      expect(pluginsRun({ config: stage1k, context: { validate: 'false' } })).not.toContain(
        'CloudFormation Validate',
      );
    });

    test('follows the prop over the context', () => {
      expect(
        pluginsRun({ config: stage1k, cloudFormationValidation: false, context: { validate: true } }),
      ).not.toContain('CloudFormation Validate');
    });
  });

  test('makes the data and network stacks termination-protected, the service stack not', () => {
    const stacks = blueprintStacks(createBlueprintApp({ config: stage1k, nag: false }));
    expect(stacks.network.terminationProtection).toBe(true);
    expect(stacks.data.terminationProtection).toBe(true);
    expect(stacks.service.terminationProtection).toBe(false);
  });

  test('rejects an app it did not build', () => {
    expect(() => blueprintStacks(new App())).toThrow(/not built by createBlueprintApp/);
  });
});
