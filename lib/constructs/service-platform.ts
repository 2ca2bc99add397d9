import * as path from 'node:path';
import { Annotations } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as targets from 'aws-cdk-lib/aws-route53-targets';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as servicediscovery from 'aws-cdk-lib/aws-servicediscovery';
import { Validations } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { AccessLogsBucket } from './access-logs-bucket';

/** Repository root: the Docker build context of the app image (see /.dockerignore). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** A public Route 53 hosted zone, given by id and name (never looked up: synth stays offline). */
export interface HostedZoneReference {
  /** Hosted zone id, e.g. `Z0123456789ABCDEFGHIJ`. */
  readonly hostedZoneId: string;
  /** The zone's domain name, e.g. `example.com`. */
  readonly zoneName: string;
}

/** HTTPS settings of the load balancer: a certificate to bring, or a hosted zone to make one in (or both). */
export interface HttpsConfig {
  /** DNS name the app is served under. */
  readonly domainName: string;
  /**
   * ACM certificate covering `domainName`, in the stack's region.
   *
   * @default - a DNS-validated certificate for `domainName`, created in `hostedZone`
   */
  readonly certificateArn?: string;
  /**
   * Hosted zone of `domainName`: the platform creates the alias record to the load balancer there (and
   * validates its certificate through it, when `certificateArn` is not given).
   *
   * @default - no DNS record: point `domainName` at the load balancer yourself
   */
  readonly hostedZone?: HostedZoneReference;
}

/** Properties of {@link ServicePlatform}. */
export interface ServicePlatformProps {
  /** VPC: the load balancer goes into its public subnets (its private subnets when internal). */
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
   * HTTPS on port 443 with an HTTP to HTTPS redirect on port 80. Needs `certificateArn`, `hostedZone` or both.
   *
   * @default - plain HTTP on port 80, with a synth warning saying how to turn HTTPS on
   */
  readonly https?: HttpsConfig;
  /**
   * Without `https`: whether plain HTTP was chosen on purpose (only the synth warning differs; the app must then
   * be told that its session cookie cannot be `Secure`).
   *
   * @default false - the templates are for looking at, and the warning says a deployment needs a choice
   */
  readonly plainHttp?: boolean;
  /**
   * Makes the load balancer internal (a region of stage global other than the first, whose viewers come in through
   * CloudFront and the region's API gateway): in the private subnets, admitting HTTP on port 80 from
   * `internal.clients` only, and without a plain-HTTP synth warning, since no viewer reaches it (neither `https` nor
   * `plainHttp` applies to it).
   *
   * @default - internet-facing, in the public subnets
   */
  readonly internal?: InternalLoadBalancerConfig;
}

/** An internal load balancer: who may reach it. */
export interface InternalLoadBalancerConfig {
  /**
   * The clients admitted on port 80, e.g. `ec2.Peer.ipv4('10.0.0.0/16')` for the VPC's CIDR. A literal CIDR rather
   * than the VPC's `vpcCidrBlock` token: cdk-nag's ingress rule cannot evaluate an intrinsic function.
   */
  readonly clients: ec2.IPeer;
}

/**
 * What every service of a region shares: the ECS cluster (enhanced Container Insights) with a Cloud Map
 * namespace for Service Connect, and the Application Load Balancer with its listeners (internet-facing: HTTPS
 * with an HTTP redirect, or HTTP only; internal: HTTP from inside the VPC), access logs to S3, invalid headers
 * dropped and `/metrics` answered with a 404. Services ({@link AppService}) register a target group on
 * `publicListener`.
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
  /** Whether the public listener is HTTPS (the app's session cookie can be `Secure`). */
  public readonly https: boolean;
  /** Whether the load balancer faces the internet (else it is internal: reached from inside the VPC only). */
  public readonly internetFacing: boolean;
  /** The load balancer's certificate, when the platform created it (a hosted zone and no `certificateArn`). */
  public readonly certificate?: acm.ICertificate;
  /** The alias record of `domainName`, when a hosted zone was given. */
  public readonly aliasRecord?: route53.ARecord;

  constructor(scope: Construct, id: string, props: ServicePlatformProps) {
    super(scope, id);
    this.internetFacing = props.internal === undefined;
    if (!this.internetFacing) {
      const problems = [
        ...(props.https !== undefined
          ? [
              `https (received domainName ${props.https.domainName}): the domain's certificate and record belong on ` +
                'an internet-facing load balancer; leave https out of an internal one',
            ]
          : []),
        ...(props.plainHttp === true
          ? [
              'plainHttp (received true): an internal load balancer serves no viewer, so there is no plain HTTP to ' +
                'choose; leave plainHttp out',
            ]
          : []),
      ];
      if (problems.length > 0) {
        throw new Error(`ServicePlatform: the load balancer is internal, so: ${problems.join('; ')}`);
      }
    }

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: props.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENHANCED,
    });
    Validations.of(this.cluster).acknowledge({
      id: 'cdk-validator-cfnguard::ecs_container_insights_enabled_check',
      reason:
        'Container Insights is on, as `enhanced` (a superset of `enabled`, which is all the rule accepts).',
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
      description: this.internetFacing
        ? 'Internet-facing load balancer of the shop'
        : 'Internal load balancer of the shop: admits the VPC only',
      allowAllOutbound: false,
    });
    if (this.internetFacing) {
      Validations.of(lbSecurityGroup).acknowledge({
        id: 'AwsSolutions-EC23',
        reason:
          'The shop is a public website: its internet-facing load balancer accepts HTTP(S) from anywhere.',
      });
    } else {
      lbSecurityGroup.addIngressRule(
        props.internal!.clients,
        ec2.Port.tcp(80),
        'HTTP from inside the VPC only',
      );
    }
    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc: props.vpc,
      internetFacing: this.internetFacing,
      vpcSubnets: {
        subnetType: this.internetFacing ? ec2.SubnetType.PUBLIC : ec2.SubnetType.PRIVATE_WITH_EGRESS,
      },
      securityGroup: lbSecurityGroup,
      dropInvalidHeaderFields: true,
    });
    this.loadBalancer.logAccessLogs(this.accessLogsBucket, 'alb');

    this.https = props.https !== undefined;
    if (!this.internetFacing) {
      // The listener opens nothing itself (`open: false`): the group's one ingress rule is `internal.clients`.
      this.publicListener = this.loadBalancer.addListener('HttpListener', {
        port: 80,
        protocol: elbv2.ApplicationProtocol.HTTP,
        open: false,
      });
      Validations.of(this.publicListener).acknowledge({
        id: 'cdk-validator-cfnguard::alb_http_to_https_redirection_check',
        reason:
          "Internal load balancer (a region other than stage global's first): it admits its internal clients only " +
          "(the VPC's CIDR), no viewer reaches it (viewers come in over HTTPS, through CloudFront and the region's API " +
          'gateway), and no certificate can cover its AWS-generated internal name: there is no HTTPS to redirect to.',
      });
      this.url = `http://${this.loadBalancer.loadBalancerDnsName}`;
    } else if (props.https !== undefined) {
      const { domainName, certificateArn, hostedZone } = props.https;
      if (certificateArn === undefined && hostedZone === undefined) {
        throw new Error(
          'ServicePlatform: https needs certificateArn (your certificate) or hostedZone (a DNS-validated one is ' +
            'created); pass one of them, or leave https out for plain HTTP',
        );
      }
      // Imported from its id and name: no lookup, synth stays offline.
      const zone =
        hostedZone !== undefined
          ? route53.HostedZone.fromHostedZoneAttributes(this, 'HostedZone', hostedZone)
          : undefined;
      let listenerCertificate: elbv2.IListenerCertificate;
      if (certificateArn !== undefined) {
        listenerCertificate = elbv2.ListenerCertificate.fromArn(certificateArn);
      } else {
        // CloudFormation waits until ACM has validated the certificate through the CNAME it writes into the zone.
        this.certificate = new acm.Certificate(this, 'Certificate', {
          domainName,
          validation: acm.CertificateValidation.fromDns(zone),
        });
        listenerCertificate = this.certificate;
      }
      this.publicListener = this.loadBalancer.addListener('HttpsListener', {
        port: 443,
        protocol: elbv2.ApplicationProtocol.HTTPS,
        certificates: [listenerCertificate],
        sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
      });
      if (zone !== undefined) {
        this.aliasRecord = new route53.ARecord(this, 'AliasRecord', {
          zone,
          recordName: domainName,
          target: route53.RecordTarget.fromAlias(new targets.LoadBalancerTarget(this.loadBalancer)),
          comment: 'The shop, on its load balancer',
        });
      }
      this.loadBalancer.addListener('HttpListener', {
        port: 80,
        protocol: elbv2.ApplicationProtocol.HTTP,
        defaultAction: elbv2.ListenerAction.redirect({ protocol: 'HTTPS', port: '443', permanent: true }),
      });
      this.url = `https://${domainName}`;
    } else {
      this.publicListener = this.loadBalancer.addListener('HttpListener', {
        port: 80,
        protocol: elbv2.ApplicationProtocol.HTTP,
      });
      Validations.of(this.publicListener).acknowledge({
        id: 'cdk-validator-cfnguard::alb_http_to_https_redirection_check',
        reason:
          'No HTTPS settings: plain HTTP on purpose (plainHttp) or templates to look at (a real account refuses to ' +
          'synthesise); with a certificate or hosted zone this listener redirects to HTTPS.',
      });
      this.url = `http://${this.loadBalancer.loadBalancerDnsName}`;
      const howToHttps =
        '"-c hostedZoneId=Z... -c hostedZoneName=example.com -c domainName=shop.example.com" (the blueprint ' +
        'creates a DNS-validated certificate and the alias record) or "-c domainName=shop.example.com ' +
        '-c certificateArn=arn:aws:acm:<region>:<account>:certificate/<id>" (your certificate, in the stack\'s region)';
      if (props.plainHttp === true) {
        Annotations.of(this).addWarningV2(
          '@shop/blueprint:plainHttp',
          'PLAIN HTTP ON PURPOSE (plainHttp=true): passwords and session cookies travel in clear text between ' +
            `browsers and the load balancer, and the session cookie is not Secure. Serve HTTPS instead: ${howToHttps}.`,
        );
      } else {
        Annotations.of(this).addWarningV2(
          '@shop/blueprint:httpOnly',
          'No HTTPS settings: these templates serve plain HTTP and are for looking at. A deployment to a real ' +
            `account (-c account=...) refuses to synthesise until you choose: ${howToHttps}, or "-c plainHttp=true" ` +
            '(clear text, session cookie not Secure).',
        );
      }
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
