import * as path from 'node:path';
import { Annotations, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { ServiceConfig } from '../config/stage-config';
import { SERVICE_DEFAULTS } from '../config/defaults';

/** Repository root: the Docker build context of the app image (see /.dockerignore). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** HTTPS settings of the load balancer. */
export interface HttpsConfig {
  /** DNS name the app is served under (point a CNAME or alias at the load balancer). */
  readonly domainName: string;
  /** ACM certificate covering `domainName`, in the stack's region. */
  readonly certificateArn: string;
}

/** Properties of {@link ShopService}. */
export interface ShopServiceProps {
  /** The stage's service section. */
  readonly config: ServiceConfig;
  /** VPC: the load balancer goes into its public subnets, the tasks into its private ones. */
  readonly vpc: ec2.IVpc;
  /** Security group of the tasks (the one the database and the cache admit). */
  readonly securityGroup: ec2.ISecurityGroup;
  /** Key encrypting the container log group. */
  readonly logEncryptionKey: kms.IKey;
  /** Bucket receiving the load balancer's access logs. */
  readonly accessLogsBucket: s3.IBucket;
  /** Plain (non-secret) environment of the app container. */
  readonly environment: Record<string, string>;
  /** Secrets injected into the app container by ECS at task start. */
  readonly secrets: Record<string, ecs.Secret>;
  /** Key the secrets are encrypted with; the execution role may decrypt with it. */
  readonly secretsKey: kms.IKey;
  /**
   * HTTPS on port 443 with an HTTP to HTTPS redirect on port 80.
   *
   * @default - plain HTTP on port 80, with a synth warning saying how to turn HTTPS on
   */
  readonly https?: HttpsConfig;
  /**
   * The app's container image.
   *
   * @default - built from app/Dockerfile with the repository root as context, for `config.cpuArchitecture`
   */
  readonly image?: ecs.ContainerImage;
}

/**
 * The sample shop on ECS Fargate behind an internet-facing Application Load Balancer.
 *
 * ECS cluster with enhanced Container Insights; tasks in private subnets; rolling deployments with the
 * circuit breaker and automatic rollback; the target group checks the app's readiness endpoint; access
 * logs to S3; invalid HTTP headers dropped. With `config.autoscaling`, the task count is owned by
 * target-tracking policies (CPU, and ALB requests per target when configured) and the service's
 * `DesiredCount` is not rendered, so a deployment never resets a scaled-out service.
 */
export class ShopService extends Construct {
  /** The ECS cluster. */
  public readonly cluster: ecs.Cluster;
  /** The task definition. */
  public readonly taskDefinition: ecs.FargateTaskDefinition;
  /** The app container. */
  public readonly container: ecs.ContainerDefinition;
  /** The service. */
  public readonly service: ecs.FargateService;
  /** The load balancer. */
  public readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  /** The target group the service registers in. */
  public readonly targetGroup: elbv2.ApplicationTargetGroup;
  /** The container log group. */
  public readonly logGroup: logs.LogGroup;
  /** Scalable task count, when autoscaling is configured. */
  public readonly scaling?: ecs.ScalableTaskCount;
  /** URL the shop is served at. */
  public readonly url: string;

  constructor(scope: Construct, id: string, props: ShopServiceProps) {
    super(scope, id);
    const { config } = props;
    const arm = (config.cpuArchitecture ?? SERVICE_DEFAULTS.cpuArchitecture) === 'ARM64';
    const port = SERVICE_DEFAULTS.containerPort;

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: props.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENHANCED,
    });

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: config.logRetention ?? SERVICE_DEFAULTS.logRetention,
      encryptionKey: props.logEncryptionKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'TaskDefinition', {
      cpu: config.cpu,
      memoryLimitMiB: config.memoryLimitMiB,
      runtimePlatform: {
        cpuArchitecture: arm ? ecs.CpuArchitecture.ARM64 : ecs.CpuArchitecture.X86_64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
    });

    const image =
      props.image ??
      ecs.ContainerImage.fromAsset(REPO_ROOT, {
        file: 'app/Dockerfile',
        platform: arm ? Platform.LINUX_ARM64 : Platform.LINUX_AMD64,
      });

    this.container = this.taskDefinition.addContainer('App', {
      image,
      essential: true,
      environment: { NODE_ENV: 'production', PORT: String(port), ...props.environment },
      secrets: props.secrets,
      portMappings: [{ containerPort: port, name: 'http' }],
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: 'app', logGroup: this.logGroup }),
      // Liveness only (the process answers); readiness (database reachable) is the target group's check.
      healthCheck: {
        command: [
          'CMD',
          'node',
          '-e',
          `fetch('http://127.0.0.1:${port}/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`,
        ],
        interval: Duration.seconds(30),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(60),
      },
      // The app drains in-flight requests on SIGTERM.
      stopTimeout: Duration.seconds(30),
    });
    const executionRole = this.taskDefinition.obtainExecutionRole();
    // ECS reads the secrets at task start; they are encrypted with the customer-managed data key.
    props.secretsKey.grantDecrypt(executionRole);
    Validations.of(executionRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ecr:GetAuthorizationToken has no resource-level permissions; every other action of the execution role ' +
        'is scoped to the asset repository, the log group and the app secrets.',
    });
    Validations.of(this.taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason:
        'Only non-secret settings (endpoints, ports, feature switches, the ARN of the database secret) are plain ' +
        'environment; the Redis AUTH token and the session secret are injected by ECS from Secrets Manager, and ' +
        'the app reads the rotating database credentials from Secrets Manager itself.',
    });

    this.service = new ecs.FargateService(this, 'Service', {
      cluster: this.cluster,
      taskDefinition: this.taskDefinition,
      // With autoscaling the scalable target owns the count; rendering it would reset it on every deploy.
      ...(config.autoscaling === undefined ? { desiredCount: config.desiredCount } : {}),
      securityGroups: [props.securityGroup],
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      assignPublicIp: false,
      circuitBreaker: { enable: true, rollback: true },
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      healthCheckGracePeriod: Duration.seconds(60),
      propagateTags: ecs.PropagatedTagSource.SERVICE,
    });

    const lbSecurityGroup = new ec2.SecurityGroup(this, 'LoadBalancerSecurityGroup', {
      vpc: props.vpc,
      description: 'Internet-facing load balancer of the shop',
      allowAllOutbound: false,
    });
    Validations.of(lbSecurityGroup).acknowledge({
      id: 'AwsSolutions-EC23',
      reason:
        'The shop is a public website: its internet-facing load balancer accepts HTTP(S) from anywhere.',
    });
    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc: props.vpc,
      internetFacing: true,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      securityGroup: lbSecurityGroup,
      dropInvalidHeaderFields: true,
    });
    this.loadBalancer.logAccessLogs(props.accessLogsBucket, 'alb');

    this.targetGroup = new elbv2.ApplicationTargetGroup(this, 'TargetGroup', {
      vpc: props.vpc,
      port,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targetType: elbv2.TargetType.IP,
      deregistrationDelay: Duration.seconds(30),
      healthCheck: {
        path: SERVICE_DEFAULTS.healthCheckPath,
        healthyHttpCodes: '200',
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 3,
      },
    });
    this.service.attachToApplicationTargetGroup(this.targetGroup);

    let publicListener: elbv2.ApplicationListener;
    if (props.https !== undefined) {
      publicListener = this.loadBalancer.addListener('HttpsListener', {
        port: 443,
        protocol: elbv2.ApplicationProtocol.HTTPS,
        certificates: [elbv2.ListenerCertificate.fromArn(props.https.certificateArn)],
        sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
        defaultTargetGroups: [this.targetGroup],
      });
      this.loadBalancer.addListener('HttpListener', {
        port: 80,
        protocol: elbv2.ApplicationProtocol.HTTP,
        defaultAction: elbv2.ListenerAction.redirect({ protocol: 'HTTPS', port: '443', permanent: true }),
      });
      this.url = `https://${props.https.domainName}`;
    } else {
      publicListener = this.loadBalancer.addListener('HttpListener', {
        port: 80,
        protocol: elbv2.ApplicationProtocol.HTTP,
        defaultTargetGroups: [this.targetGroup],
      });
      this.url = `http://${this.loadBalancer.loadBalancerDnsName}`;
      Annotations.of(this).addWarningV2(
        '@shop/blueprint:httpOnly',
        'The load balancer serves plain HTTP because no certificate was given. To serve HTTPS (with an HTTP to ' +
          'HTTPS redirect), pass both "-c domainName=shop.example.com" and "-c certificateArn=arn:aws:acm:<region>:' +
          '<account>:certificate/<id>" (an ACM certificate for that name, in the stack\'s region).',
      );
    }

    // The app's Prometheus endpoint is for scrapers inside the VPC, not for the internet: the listener
    // answers it with a 404 before it reaches a task.
    publicListener.addAction('BlockMetrics', {
      priority: 1,
      conditions: [elbv2.ListenerCondition.pathPatterns(['/metrics', '/metrics/*'])],
      action: elbv2.ListenerAction.fixedResponse(404, {
        contentType: 'text/plain',
        messageBody: 'Not Found',
      }),
    });

    const autoscaling = config.autoscaling;
    if (autoscaling !== undefined) {
      this.scaling = this.service.autoScaleTaskCount({
        minCapacity: autoscaling.minCapacity,
        maxCapacity: autoscaling.maxCapacity,
      });
      const cooldowns = {
        scaleInCooldown: autoscaling.scaleInCooldown ?? SERVICE_DEFAULTS.scaleInCooldown,
        scaleOutCooldown: autoscaling.scaleOutCooldown ?? SERVICE_DEFAULTS.scaleOutCooldown,
      };
      this.scaling.scaleOnCpuUtilization('CpuScaling', {
        targetUtilizationPercent: autoscaling.targetCpuUtilizationPercent,
        ...cooldowns,
      });
      if (autoscaling.requestsPerTarget !== undefined) {
        this.scaling.scaleOnRequestCount('RequestCountScaling', {
          requestsPerTarget: autoscaling.requestsPerTarget,
          targetGroup: this.targetGroup,
          ...cooldowns,
        });
      }
    }
  }
}
