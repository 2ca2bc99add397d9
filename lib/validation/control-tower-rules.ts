/**
 * The AWS Control Tower proactive controls (cfn-guard rules bundled with `@cdklabs/cdk-validator-cfnguard`) as
 * a CDK policy-validation plugin next to cdk-nag. The plugin runs the cfn-guard binary shipped inside the npm
 * package (Linux and macOS, x86_64 and aarch64): offline, nothing is downloaded.
 *
 * A rule that does not apply to the blueprint is turned off here with its reason. A finding that does not
 * apply to one resource is acknowledged on that construct instead
 * (`Validations.of(construct).acknowledge({ id: 'cdk-validator-cfnguard::<rule name>', reason })`).
 */
import { CfnGuardValidator } from '@cdklabs/cdk-validator-cfnguard';

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

/** The Control Tower proactive controls as a validation plugin, with the rules above turned off. */
export function controlTowerValidator(): CfnGuardValidator {
  return new CfnGuardValidator({
    disabledRules: Object.keys(DISABLED_CONTROL_TOWER_RULES),
    // Room for cfn-guard's JSON output on every template of a stage (Node's default is 1 MB).
    maxBuffer: 64 * 1024 * 1024,
  });
}
