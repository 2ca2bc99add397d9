import { Stack, type StackProps } from 'aws-cdk-lib';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import type { Construct } from 'constructs';
import { RegionalHealthAlarms } from '../constructs/regional-health-alarms';
import { healthCheckIdParameterName } from './routing-stack';

/** Properties of {@link RoutingAlarmsStack}. */
export interface RoutingAlarmsStackProps extends StackProps {
  /** Every region of the deployment, home first. */
  readonly regions: readonly string[];
  /** Prefix of the parameter and alarm names. */
  readonly prefix: string;
  /** Email subscribed to the alarm topic. @default - no subscription */
  readonly alarmEmail?: string;
}

/**
 * The Route 53 health-check alarms of a deployment whose home region is not us-east-1 (construct id
 * `ShopRoutingAlarms`, stack `<prefix>-routing-alarms`, always in us-east-1, where Route 53 publishes the
 * health-check metrics). The health checks live in the home region's routing stack, which writes their ids to SSM
 * parameters here ({@link healthCheckIdParameterName}); this stack reads them as SSM-typed stack parameters, which
 * CloudFormation resolves again at every deployment (the CDK CLI never skips deploying a stack that has them), so a
 * replaced health check's new id arrives with the next `cdk deploy` and nothing locks the old one. Deploy it after
 * the routing stack (a stack dependency orders them).
 */
export class RoutingAlarmsStack extends Stack {
  /** The alarms and their topic. */
  public readonly alarms: RegionalHealthAlarms;

  constructor(scope: Construct, id: string, props: RoutingAlarmsStackProps) {
    super(scope, id, props);
    const healthCheckIds = Object.fromEntries(
      props.regions.map((region) => [
        region,
        ssm.StringParameter.valueForStringParameter(this, healthCheckIdParameterName(props.prefix, region)),
      ]),
    );
    this.alarms = new RegionalHealthAlarms(this, 'HealthAlarms', {
      healthCheckIds,
      prefix: props.prefix,
      ...(props.alarmEmail !== undefined ? { alarmEmail: props.alarmEmail } : {}),
    });
  }
}
