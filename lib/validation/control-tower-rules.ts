/**
 * The AWS Control Tower proactive controls (cfn-guard rules bundled with `@cdklabs/cdk-validator-cfnguard`) as
 * a CDK policy-validation plugin next to cdk-nag. The plugin runs the cfn-guard binary shipped inside the npm
 * package (Linux and macOS, x86_64 and aarch64): offline, nothing is downloaded.
 *
 * A rule that does not apply to the blueprint is turned off here with its reason. A finding that does not
 * apply to one resource is acknowledged on that construct instead
 * (`Validations.of(construct).acknowledge({ id: 'cdk-validator-cfnguard::<rule name>', reason })`).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CfnGuardValidator } from '@cdklabs/cdk-validator-cfnguard';
import type {
  IPolicyValidationContext,
  IPolicyValidationPlugin,
  PolicyValidationPluginReport,
} from 'aws-cdk-lib';

/** Control Tower rules turned off (rule file name, e.g. `ct-s3-pr-9`), each with why it does not apply. */
export const DISABLED_CONTROL_TOWER_RULES: Readonly<Record<string, string>> = {
  'ct-cloudwatch-pr-2':
    'Log retention is a per-stage cost choice (logRetention, one month for app and database logs; flow logs keep a year), not a year everywhere.',
  'ct-ec2-pr-11':
    'Public subnets hold only the load balancer and NAT gateways, which bring their own addresses; no instance is launched there.',
  'ct-ecs-pr-7':
    "Fargate enforces the task's memory as the hard limit; per-container limits would only split it between containers.",
  'ct-elasticloadbalancing-pr-5':
    'The service stack is stateless and replaceable by design; deletion protection would make every replacement a manual step.',
  'ct-s3-pr-4': 'Nothing consumes events from the access-log buckets; they are read on demand (Athena).',
  'ct-s3-pr-9':
    'Object Lock can be set only when a bucket is created (the retained log buckets would be replaced), and log expiry is a lifecycle rule.',
  'ct-s3-pr-11':
    'Log delivery writes each object once and never overwrites it; versioning would only keep copies the lifecycle rule expires.',
};

/** The plugin's name: acknowledgements name it (`cdk-validator-cfnguard::<rule name>`). */
const PLUGIN_NAME = 'cdk-validator-cfnguard';

/** Room for cfn-guard's JSON output on every template of a stage (Node's default is 1 MB). */
const MAX_BUFFER = 64 * 1024 * 1024;

/** The Control Tower rule files the package bundles (the directory its plugin reads). */
const BUNDLED_RULES_DIR = join(
  dirname(require.resolve('@cdklabs/cdk-validator-cfnguard/package.json')),
  'rules',
  'control-tower',
  'cfn-guard',
);

/** A resource type as the rules and the templates write it (`AWS::S3::Bucket`). */
const RESOURCE_TYPE = /AWS::[A-Za-z0-9]+::[A-Za-z0-9]+/g;

/** A regular expression over resource types (`/AWS::S3::.*\/`): which types it selects is not known here. */
const TYPE_PATTERN = /\/[^/\n]*AWS::/;

/** A bundled rule file that is on, with the resource types it names (empty: run it on every synth). */
interface BundledRule {
  readonly path: string;
  readonly resourceTypes: ReadonlySet<string>;
}

let bundledRules: readonly BundledRule[] | undefined;

/** The bundled rule files that are on (read once per process). */
function enabledBundledRules(): readonly BundledRule[] {
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)],
    );
  return (bundledRules ??= walk(BUNDLED_RULES_DIR)
    .filter((path) => path.endsWith('.guard'))
    .filter((path) => !Object.hasOwn(DISABLED_CONTROL_TOWER_RULES, basename(path, '.guard')))
    .sort()
    .map((path) => {
      const text = readFileSync(path, 'utf8');
      return {
        path,
        resourceTypes: new Set(TYPE_PATTERN.test(text) ? [] : (text.match(RESOURCE_TYPE) ?? [])),
      };
    }));
}

/** The resource types in a template. */
function resourceTypesIn(templatePath: string): Set<string> {
  const template = JSON.parse(readFileSync(templatePath, 'utf8')) as {
    Resources?: Record<string, { Type?: unknown }>;
  };
  return new Set(
    Object.values(template.Resources ?? {}).flatMap((resource) =>
      typeof resource.Type === 'string' ? [resource.Type] : [],
    ),
  );
}

/**
 * `@cdklabs/cdk-validator-cfnguard`'s Control Tower rules with cfn-guard given, for each template, only the rule
 * files that can apply to it: those naming a resource type the template contains (and any that names none).
 *
 * Each Control Tower rule selects the resources it checks by type, named in its file
 * (`let S3_BUCKET_TYPE = "AWS::S3::Bucket"`, `Resources.*[ Type == %S3_BUCKET_TYPE ]`), and is skipped when there
 * are none, so a rule file whose types are all absent from a template cannot report a finding on it: leaving it
 * out changes no result. It does save the time: cfn-guard walks the template once per rule file, whether the
 * file's types are there or not, and a stage's templates need about 90 of the 230 files, most of them far fewer
 * (stage global: cfn-guard took 60 s of CPU with every file on every template, 21 s this way). cfn-guard checks
 * each template on its own either way; the package's plugin runs it (once per template) and reads its findings.
 */
class ControlTowerRules implements IPolicyValidationPlugin {
  readonly name = PLUGIN_NAME;
  /** The package's version and rule ids, as its own plugin reports them. */
  readonly version?: string;
  readonly ruleIds?: string[];

  constructor() {
    const all = new CfnGuardValidator({ disabledRules: Object.keys(DISABLED_CONTROL_TOWER_RULES) });
    this.version = all.version;
    this.ruleIds = all.ruleIds;
  }

  validate(context: IPolicyValidationContext): PolicyValidationPluginReport {
    const reports = context.templatePaths.flatMap((templatePath) => {
      const present = resourceTypesIn(templatePath);
      const rules = enabledBundledRules()
        .filter(
          ({ resourceTypes }) =>
            resourceTypes.size === 0 || [...resourceTypes].some((type) => present.has(type)),
        )
        .map(({ path }) => path);
      // No rule can apply (cfn-guard needs at least one rule file): nothing to find.
      if (rules.length === 0) return [];
      const validator = new CfnGuardValidator({
        controlTowerRulesEnabled: false,
        rules,
        maxBuffer: MAX_BUFFER,
      });
      return [
        // (the package's plugin reads only the template paths)
        validator.validate({ ...context, templatePaths: [templatePath] }),
      ];
    });
    return {
      success: reports.every((report) => report.success),
      violations: reports.flatMap((report) => report.violations),
    };
  }
}

/**
 * The Control Tower proactive controls as a validation plugin, with the rules above turned off (the package's
 * `CfnGuardValidator`, given for each template only the rule files that can apply to it: {@link ControlTowerRules}).
 */
export function controlTowerValidator(): IPolicyValidationPlugin {
  return new ControlTowerRules();
}
