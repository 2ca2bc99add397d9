import * as path from 'node:path';
import { Annotations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as servicediscovery from 'aws-cdk-lib/aws-servicediscovery';
import { Validations } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { AccessLogsBucket } from './access-logs-bucket';

/** Repository root: the Docker build context of the app image (see /.dockerignore). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** HTTPS settings of the load balancer. */
export interface HttpsConfig {
  /** DNS name the app is served under (point a CNAME or alias at the load balancer). */
  readonly domainName: string;
  /** ACM certificate covering `domainName`, in the stack's region. */
  readonly certificateArn: string;
}

/** Properties of {@link ServicePlatform}. */
export interface ServicePlatformProps {
  /** VPC: the load balancer goes into its public subnets. */
  readonly vpc: ec2.IVpc;
  /**
   * Name of the Cloud Map namespace services register in for ECS Service Connect (unique per account and
   * region), e.g. `shop.internal`.
   */
  readonly namespaceName: string;
  /**
   * Bucket receiving the load balancer's access logs.
   *
   * @default - an `AccessLogsBucket` created here (`AccessLogs`)
   */
  readonly accessLogsBucket?: s3.IBucket;
  /**
   * HTTPS on port 443 with an HTTP to HTTPS redirect on port 80.
   *
   * @default - plain HTTP on port 80, with a synth warning saying how to turn HTTPS on
   */
  readonly https?: HttpsConfig;
}

/**
 * What every service of a region shares: the ECS cluster (enhanced Container Insights) with a Cloud Map
 * namespace for Service Connect, and the internet-facing Application Load Balancer with its listeners
 * (HTTPS with an HTTP redirect, or HTTP only), access logs to S3, invalid headers dropped and `/metrics`
 * answered with a 404. Services ({@link AppService}) register a target group on `publicListener`.
 */
export class ServicePlatform extends Construct {
  /** The ECS cluster. */
  public readonly cluster: ecs.Cluster;
  /** The Cloud Map namespace of the cluster, used by Service Connect. */
  public readonly namespace: servicediscovery.INamespace;
  /** The load balancer. */
  public readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  /** The listener services route from (HTTPS, or HTTP without a certificate). */
  public readonly publicListener: elbv2.ApplicationListener;
  /** Bucket receiving the access logs. */
  public readonly accessLogsBucket: s3.IBucket;
  /** URL the shop is served at. */
  public readonly url: string;

  constructor(scope: Construct, id: string, props: ServicePlatformProps) {
    super(scope, id);

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: props.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENHANCED,
    });
    // An HTTP namespace: Service Connect needs no DNS, and this one needs no hosted zone.
    this.namespace = this.cluster.addDefaultCloudMapNamespace({
      name: props.namespaceName,
      type: servicediscovery.NamespaceType.HTTP,
      useForServiceConnect: true,
    });

    this.accessLogsBucket = props.accessLogsBucket ?? new AccessLogsBucket(this, 'AccessLogs').bucket;

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
    this.loadBalancer.logAccessLogs(this.accessLogsBucket, 'alb');

    if (props.https !== undefined) {
      this.publicListener = this.loadBalancer.addListener('HttpsListener', {
        port: 443,
        protocol: elbv2.ApplicationProtocol.HTTPS,
        certificates: [elbv2.ListenerCertificate.fromArn(props.https.certificateArn)],
        sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
      });
      this.loadBalancer.addListener('HttpListener', {
        port: 80,
        protocol: elbv2.ApplicationProtocol.HTTP,
        defaultAction: elbv2.ListenerAction.redirect({ protocol: 'HTTPS', port: '443', permanent: true }),
      });
      this.url = `https://${props.https.domainName}`;
    } else {
      this.publicListener = this.loadBalancer.addListener('HttpListener', {
        port: 80,
        protocol: elbv2.ApplicationProtocol.HTTP,
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
    // answers it with a 404 before it reaches a task. Priority 1: before every service's rule.
    this.publicListener.addAction('BlockMetrics', {
      priority: 1,
      conditions: [elbv2.ListenerCondition.pathPatterns(['/metrics', '/metrics/*'])],
      action: elbv2.ListenerAction.fixedResponse(404, {
        contentType: 'text/plain',
        messageBody: 'Not Found',
      }),
    });
  }
}
