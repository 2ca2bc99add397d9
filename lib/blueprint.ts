/**
 * Builds the CDK app of one stage: context defaults, validation, the three stacks, cdk-nag.
 * Used by bin/app.ts, the tests, the upgrade-diff tool and the synth benchmark; it is fast and side-effect
 * free: no lookups, no network, and nothing written until `synth()`, except that CDK stages the app
 * image's build context (app/ and the lockfile, see .dockerignore) into the output directory while the
 * app is built, unless the context sets `aws:cdk:disable-asset-staging` (as tools do).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { OUTDIR_ENV } from 'aws-cdk-lib/cx-api';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { StageConfig } from './config/stage-config';
import {
  CONTEXT_KEYS,
  DEFAULT_APP_CONTEXT,
  globalSessionsRegionProblems,
  NETWORK_DEFAULTS,
  frontDoorProblems,
  globalContextProblems,
  parseBooleanContext,
  readDeploymentContext,
  StageConfigError,
  validateStageConfig,
} from './config';
import { Construct } from 'constructs';
import { pascalCase } from './config/naming';
import { buildRegion, STACK_IDS, type RegionStacks } from './region';
import { buildGlobalRouting } from './routing';
import { buildEdge } from './edge/build-edge';
import { controlTowerValidator } from './validation/control-tower-rules';

export { STACK_IDS };

/** Properties of {@link createBlueprintApp}. */
export interface BlueprintAppProps {
  /** The stage to build. */
  readonly config: StageConfig;
  /**
   * Context on top of the defaults (recommended feature flags, account, region, availability zones);
   * when run by the CDK CLI, cdk.json and `-c` values arrive through the environment and win.
   *
   * @default - the defaults only
   */
  readonly context?: Record<string, unknown>;
  /**
   * Where `synth()` writes the cloud assembly.
   *
   * @default - the CLI's output directory, or a temporary directory
   */
  readonly outdir?: string;
  /**
   * Register cdk-nag's AwsSolutions pack (once, on the app).
   *
   * @default true
   */
  readonly nag?: boolean;
  /**
   * Run CDK's built-in CloudFormation validation (`App`'s `builtinCloudFormationValidation`: every
   * template checked against the resource schemas and CDK's default rules) in `synth()`. It finds
   * template errors before a deployment does, and costs most of a synth's time (a WASM engine started
   * in every process), so the test suite and CI run it and everyday `cdk synth` does not (bin/app.ts
   * passes `-c validate=true` through, otherwise false). cdk-nag (`nag`) does not depend on it.
   * `CDK_VALIDATION=false` in the environment still turns it off.
   *
   * @default - the `validate` context value (`-c validate=true|false`); when not set, true
   */
  readonly cloudFormationValidation?: boolean;
  /**
   * Register the AWS Control Tower proactive controls (cfn-guard, `lib/validation/control-tower-rules.ts`) as a
   * second validation plugin next to cdk-nag. The test suite (so CI) runs them on every stage; on a synth,
   * `-c controlTowerRules=true` does.
   *
   * @default - the `controlTowerRules` context value; when not set, false
   */
  readonly controlTowerRules?: boolean;
}

/**
 * The stacks of a blueprint app, for callers that need more than the app: the home region's stacks (as
 * properties, as before regions were a list) and every region's, home first.
 */
export interface BlueprintStacks extends RegionStacks {
  /** Every region's stacks by region code, the home region first. */
  readonly regions: Readonly<Record<string, RegionStacks>>;
}

const stacksByApp = new WeakMap<App, BlueprintStacks>();

/**
 * The `validate` context value as the app will see it (defaults, cdk.json and `-c` merged), read before
 * the app exists because the App takes the setting in its constructor. An invalid value counts as true
 * here; readDeploymentContext reports it.
 */
function validateFromContext(outdir: string, context: Record<string, unknown>): boolean {
  const probe = new App({ outdir, context, autoSynth: false });
  return parseBooleanContext(probe.node.tryGetContext(CONTEXT_KEYS.validate)) ?? true;
}

/**
 * Builds the app of a stage.
 *
 * @throws StageConfigError listing every problem of the stage config and the deployment context
 */
export function createBlueprintApp(props: BlueprintAppProps): App {
  const appContext = { ...DEFAULT_APP_CONTEXT, ...(props.context ?? {}) };
  // The same directory CDK would pick (the CLI's, else a temporary one), shared by the probe below.
  const outdir = props.outdir ?? process.env[OUTDIR_ENV] ?? fs.mkdtempSync(path.join(os.tmpdir(), 'cdk.out'));
  const app = new App({
    outdir,
    context: appContext,
    builtinCloudFormationValidation:
      props.cloudFormationValidation ?? validateFromContext(outdir, appContext),
  });
  const { config } = props;

  const maxAzs = (config as Partial<StageConfig>).network?.maxAzs;
  const { context, problems } = readDeploymentContext(
    (key) => app.node.tryGetContext(key),
    typeof maxAzs === 'number' ? maxAzs : NETWORK_DEFAULTS.maxAzs,
  );
  const allProblems = [
    ...validateStageConfig(config),
    ...problems,
    ...frontDoorProblems(context, (config as Partial<StageConfig>).gateway !== undefined),
    ...globalSessionsRegionProblems(
      config as unknown as Record<string, unknown>,
      context.regions.map(({ region }) => region),
    ),
    ...globalContextProblems(context, (config as Partial<StageConfig>).global !== undefined),
  ];
  if (allProblems.length > 0) throw new StageConfigError(allProblems);

  // HTTPS with a certificate of one's own, or one made (and an alias record written) in the hosted zone, or both.
  const https =
    context.domainName !== undefined &&
    (context.certificateArn !== undefined || context.hostedZone !== undefined)
      ? {
          domainName: context.domainName,
          ...(context.certificateArn !== undefined ? { certificateArn: context.certificateArn } : {}),
          ...(context.hostedZone !== undefined ? { hostedZone: context.hostedZone } : {}),
        }
      : undefined;
  const regions: Record<string, RegionStacks> = {};
  // Pin every region's zones for Stack.availabilityZones too, so nothing ever asks the CLI for a lookup
  // (context can only be set before the first stack exists).
  for (const { region, availabilityZones } of context.regions) {
    app.node.setContext(`availability-zones:account=${context.account}:region=${region}`, availabilityZones);
  }
  context.regions.forEach(({ region, availabilityZones }, index) => {
    const home = index === 0;
    // The home region's stacks sit on the app itself (their ids and logical ids predate regions); each further
    // region's in a scope named after it (`EuWest1/ShopData`), still top-level stacks for `cdk deploy --all`.
    regions[region] = buildRegion(home ? app : new Construct(app, pascalCase(region)), {
      config,
      env: { account: context.account, region },
      availabilityZones,
      prefix: context.prefix,
      home,
      // A certificate belongs to one region: HTTPS on the home region's load balancer.
      ...(home && https !== undefined ? { https } : {}),
      ...(context.plainHttp === true ? { plainHttp: true } : {}),
      ...(context.alarmEmail !== undefined ? { alarmEmail: context.alarmEmail } : {}),
      ...(context.adminEmails !== undefined ? { adminEmails: context.adminEmails } : {}),
      ...(home && context.frontDoor !== undefined ? { frontDoor: context.frontDoor } : {}),
      regions: context.regions.map(({ region: code }) => code),
      ...(home ? {} : { homeStacks: regions[context.region]! }),
      ...(context.writerRegion !== undefined ? { writerRegion: context.writerRegion } : {}),
    });
  });
  // Stage global: the regions' API hostnames, Route 53 routing (home region) and health-check alarms (us-east-1).
  buildGlobalRouting(app, {
    config,
    regions,
    account: context.account,
    prefix: context.prefix,
    ...(context.domainName !== undefined ? { domainName: context.domainName } : {}),
    ...(context.hostedZone !== undefined ? { hostedZone: context.hostedZone } : {}),
    ...(context.alarmEmail !== undefined ? { alarmEmail: context.alarmEmail } : {}),
    ...(context.writerRegion !== undefined ? { writerRegion: context.writerRegion } : {}),
  });
  const homeStacks = regions[context.region];
  if (homeStacks === undefined) throw new Error('createBlueprintApp: no home region');
  stacksByApp.set(app, { ...homeStacks, regions });
  // Stage global: CloudFront and WAF in us-east-1, the storefront's failover copy, the domain moved to the edge.
  if (config.global !== undefined) {
    buildEdge(app, {
      config: config.global.edge,
      account: context.account,
      prefix: context.prefix,
      regions: context.regions.map(({ region }) => region),
      homeService: homeStacks.service,
      ...(context.writerRegion !== undefined ? { writerRegion: context.writerRegion } : {}),
      ...(context.frontDoor !== undefined ? { frontDoor: context.frontDoor } : {}),
      ...(context.domainName !== undefined ? { domainName: context.domainName } : {}),
      ...(context.hostedZone !== undefined ? { hostedZone: context.hostedZone } : {}),
    });
  }

  if (props.nag ?? true) {
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  }
  if (props.controlTowerRules ?? context.controlTowerRules ?? false) {
    Validations.of(app).addPlugins(controlTowerValidator());
  }
  return app;
}

/**
 * The stacks of an app made by {@link createBlueprintApp}.
 *
 * @throws Error when the app was not made by createBlueprintApp
 */
export function blueprintStacks(app: App): BlueprintStacks {
  const stacks = stacksByApp.get(app);
  if (stacks === undefined) throw new Error('blueprintStacks: this app was not built by createBlueprintApp');
  return stacks;
}
