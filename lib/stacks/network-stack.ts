import { RemovalPolicy, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { NetworkConfig } from '../config/stage-config';
import { NETWORK_DEFAULTS, SUBNET_LAYOUT } from '../config/defaults';
import { allowLogsService, denyGrantsExceptForAwsServices } from '../constructs/key-policies';
import { networkConfigProblems, StageConfigError } from '../config/validate-stage-config';

/** Properties of {@link NetworkStack}. */
export interface NetworkStackProps extends StackProps {
  /** The stage's network section. */
  readonly network: NetworkConfig;
  /** Availability zones to span (pinned from context: no lookup). */
  readonly availabilityZones: readonly string[];
  /**
   * Create {@link NetworkStack.secretReplicasKey}: a further region of stage global, where the home region's
   * database secrets are replicated. It lives here, not in the data stack, because the home region's data stacks
   * encrypt their replicas with it before this region's data stack can exist (its Aurora secondary clusters join
   * the home region's global clusters).
   *
   * @default false
   */
  readonly secretReplicasKey?: boolean;
}

/**
 * The VPC every other stack lives in: public subnets (ALB, NAT), private subnets with egress (tasks),
 * isolated subnets (Aurora, Redis); flow logs to a KMS-encrypted log group; an S3 gateway endpoint.
 * Also owns the app's security group, so the data stack can admit exactly it.
 */
export class NetworkStack extends Stack {
  /** The VPC. */
  public readonly vpc: ec2.Vpc;
  /** Security group of the app's tasks: the only one the database and the cache admit. */
  public readonly appSecurityGroup: ec2.SecurityGroup;
  /** Key encrypting the flow logs. */
  public readonly logsKey: kms.Key;
  /** Log group receiving the flow logs. */
  public readonly flowLogGroup: logs.LogGroup;
  /**
   * Key encrypting the replicas of the home region's database secrets in this region (stage global, further
   * regions only).
   */
  public readonly secretReplicasKey?: kms.Key;

  constructor(scope: Construct, id: string, props: NetworkStackProps) {
    super(scope, id, props);
    const problems = networkConfigProblems(props.network, 'network.', props.availabilityZones.length);
    if (problems.length > 0) throw new StageConfigError(problems);
    const maxAzs = props.network.maxAzs ?? NETWORK_DEFAULTS.maxAzs;

    this.logsKey = new kms.Key(this, 'LogsKey', {
      description: 'Encrypts the VPC flow logs',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // CloudWatch Logs encrypts with the key on the log groups' behalf (this account's only): the flow logs and
    // every service's container logs.
    allowLogsService(this.logsKey);
    denyGrantsExceptForAwsServices(this.logsKey);

    if (props.secretReplicasKey === true) {
      this.secretReplicasKey = new kms.Key(this, 'SecretReplicasKey', {
        description: "Encrypts this region's replicas of the home region's database secrets",
        enableKeyRotation: true,
        removalPolicy: RemovalPolicy.RETAIN,
      });
      denyGrantsExceptForAwsServices(this.secretReplicasKey);
    }

    this.flowLogGroup = new logs.LogGroup(this, 'FlowLogGroup', {
      retention: props.network.flowLogRetention ?? NETWORK_DEFAULTS.flowLogRetention,
      encryptionKey: this.logsKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(props.network.cidr ?? NETWORK_DEFAULTS.cidr),
      availabilityZones: props.availabilityZones.slice(0, maxAzs),
      natGateways: props.network.natGateways,
      subnetConfiguration: [...SUBNET_LAYOUT],
      flowLogs: {
        All: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(this.flowLogGroup),
          trafficType: ec2.FlowLogTrafficType.ALL,
        },
      },
      gatewayEndpoints: {
        // Image layers come from S3: through the endpoint they skip the NAT gateway.
        S3: { service: ec2.GatewayVpcEndpointAwsService.S3 },
      },
    });

    // CDK's handler that strips the default security group's rules runs once per deployment against the EC2
    // API; it reaches nothing in the VPC and needs no VPC placement.
    const restrictDefaultGroup = this.node.tryFindChild('Custom::VpcRestrictDefaultSGCustomResourceProvider');
    if (restrictDefaultGroup !== undefined) {
      Validations.of(restrictDefaultGroup).acknowledge({
        id: 'cdk-validator-cfnguard::lambda_inside_vpc_check',
        reason:
          "CDK's custom resource that removes the default security group's rules calls only the EC2 API, " +
          'reaches nothing inside the VPC, and runs only during deployments.',
      });
    }

    this.appSecurityGroup = new ec2.SecurityGroup(this, 'AppSecurityGroup', {
      vpc: this.vpc,
      description: 'Tasks of the shop service (the only client the database and the cache admit)',
      // The tasks call AWS APIs (ECR, Secrets Manager, CloudWatch) through the NAT gateway.
      allowAllOutbound: true,
    });
  }
}
