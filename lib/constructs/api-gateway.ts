import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpAlbIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { GATEWAY_DEFAULTS } from '../config/defaults';
import type { GatewayConfig, GatewayThrottleConfig } from '../config/stage-config';
import { gatewayConfigProblems, StageConfigError } from '../config/validate-stage-config';
import type { AppService } from './app-service';
import type { StageMonitoring } from './stage-monitoring';

/** The custom domain of the gateway: the foundation's domain and a regional certificate covering it. */
export interface GatewayDomainProps {
  /** DNS name the shop is served under (the same name as the public load balancer's until the cut-over). */
  readonly domainName: string;
  /** Certificate covering `domainName`, in the stack's region. */
  readonly certificate: acm.ICertificate;
}

/** Properties of {@link ApiGateway}. */
export interface ApiGatewayProps {
  /** The stage's `gateway` section. */
  readonly config: GatewayConfig;
  /** Ids of the stage's services (the default service must be one of them). */
  readonly serviceIds: readonly string[];
  /** VPC: the internal load balancer and the VPC link go into its private subnets. */
  readonly vpc: ec2.IVpc;
  /** Prefix of physical names (API `<prefix>-api`, VPC link `<prefix>-api`). */
  readonly prefix: string;
  /** Key encrypting the access-log group. */
  readonly logEncryptionKey: kms.IKey;
  /** Bucket receiving the internal load balancer's access logs (prefix `internal-alb`). */
  readonly accessLogsBucket: s3.IBucket;
  /**
   * The custom domain: the API is mapped to it, and the internal listener is HTTPS with the same certificate
   * (the VPC link verifies `domainName`).
   *
   * @default - no custom domain (the execute-api URL only); the internal listener is HTTP inside the VPC
   */
  readonly domain?: GatewayDomainProps;
}

/**
 * The API gateway of the services (stage 1m): an Amazon API Gateway HTTP API whose `$default` route goes
 * through a VPC link to an internal Application Load Balancer, where one listener rule per service
 * ({@link ApiGateway.addService}) forwards its paths and the default service answers the rest.
 *
 * - `/internal/*` (the products service's internal API, reached over Service Connect only) and `/metrics` are
 *   never forwarded: the load balancer answers them with a fixed 404 before any service rule, and the HTTP API
 *   has `ANY /internal/{proxy+}` behind IAM authorization that no principal is granted, so the gateway refuses
 *   them (403) before the VPC link.
 * - Throttling on the stage: a limit for every route, stricter ones for the routes in `routeThrottles`
 *   (log-in, sign-up), each its own route on the API with the same integration.
 * - Access logs as JSON to a log group encrypted with the logs key.
 * - With a domain: a custom domain name mapped to the API, and an HTTPS internal listener whose certificate the
 *   VPC link verifies (TLS from the gateway to the load balancer). Without one, the listener is HTTP inside the
 *   VPC (no certificate can cover the load balancer's AWS-generated internal name).
 */
export class ApiGateway extends Construct {
  /** The HTTP API. */
  public readonly api: apigwv2.HttpApi;
  /** Its only stage (`$default`, auto-deployed). */
  public readonly stage: apigwv2.HttpStage;
  /** The VPC link from API Gateway into the private subnets. */
  public readonly vpcLink: apigwv2.VpcLink;
  /** The internal load balancer. */
  public readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  /** Its listener, where services add their rules. */
  public readonly listener: elbv2.ApplicationListener;
  /** The access-log group. */
  public readonly accessLogGroup: logs.LogGroup;
  /** The custom domain name, when a domain was given. */
  public readonly domainName?: apigwv2.DomainName;
  /** The mapping of the API's stage to the custom domain, when a domain was given. */
  public readonly apiMapping?: apigwv2.ApiMapping;
  /** The execute-api URL: for testing the gateway before the DNS cut-over. */
  public readonly url: string;
  /**
   * Header the gateway sets to the client's address on every request it forwards: the services behind it read
   * the client's address from it (their `CLIENT_IP_HEADER`), not from the load balancer's `X-Forwarded-For`,
   * whose first entry the client can write and whose last entry is the VPC link's address.
   */
  public readonly clientIpHeader: string = GATEWAY_DEFAULTS.clientIpHeader;
  /** Whether the internal listener is HTTPS (with a domain): what the services behind it see as the protocol. */
  public readonly https: boolean;

  constructor(scope: Construct, id: string, props: ApiGatewayProps) {
    super(scope, id);
    const services = Object.fromEntries(props.serviceIds.map((serviceId) => [serviceId, {}]));
    const problems = gatewayConfigProblems(props.config, services, 'config.');
    if (problems.length > 0) throw new StageConfigError(problems);
    const https = props.domain !== undefined;
    this.https = https;
    const port = https ? 443 : 80;

    const linkSecurityGroup = new ec2.SecurityGroup(this, 'VpcLinkSecurityGroup', {
      vpc: props.vpc,
      description: 'VPC link of the API gateway: reaches the internal load balancer only',
      allowAllOutbound: false,
    });
    const lbSecurityGroup = new ec2.SecurityGroup(this, 'LoadBalancerSecurityGroup', {
      vpc: props.vpc,
      description: 'Internal load balancer of the API gateway: admits the VPC link only',
      allowAllOutbound: false,
    });
    lbSecurityGroup.addIngressRule(
      linkSecurityGroup,
      ec2.Port.tcp(port),
      'Requests from the API gateway VPC link',
    );
    linkSecurityGroup.addEgressRule(lbSecurityGroup, ec2.Port.tcp(port), 'To the internal load balancer');

    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc: props.vpc,
      internetFacing: false,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroup: lbSecurityGroup,
      dropInvalidHeaderFields: true,
    });
    this.loadBalancer.logAccessLogs(props.accessLogsBucket, 'internal-alb');

    if (props.domain !== undefined) {
      this.listener = this.loadBalancer.addListener('HttpsListener', {
        port,
        protocol: elbv2.ApplicationProtocol.HTTPS,
        certificates: [props.domain.certificate],
        sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
        open: false,
      });
    } else {
      this.listener = this.loadBalancer.addListener('HttpListener', {
        port,
        protocol: elbv2.ApplicationProtocol.HTTP,
        open: false,
      });
      Validations.of(this.listener).acknowledge({
        id: 'cdk-validator-cfnguard::alb_http_to_https_redirection_check',
        reason:
          'Internal listener reached only by the API gateway VPC link inside the VPC; without a domain no ' +
          "certificate can cover the load balancer's AWS-generated name, so the hop stays HTTP. With the " +
          "foundation's domain (HTTPS context) this listener is HTTPS and the VPC link verifies it.",
      });
    }
    // Never forwarded to a service: the products service's internal API (Service Connect only) and the app's
    // Prometheus endpoint. Priority 1, before every service's rule.
    this.listener.addAction('BlockInternal', {
      priority: 1,
      conditions: [elbv2.ListenerCondition.pathPatterns([...GATEWAY_DEFAULTS.blockedPaths])],
      action: elbv2.ListenerAction.fixedResponse(404, {
        contentType: 'text/plain',
        messageBody: 'Not Found',
      }),
    });

    this.vpcLink = new apigwv2.VpcLink(this, 'VpcLink', {
      vpc: props.vpc,
      vpcLinkName: `${props.prefix}-api`,
      subnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroups: [linkSecurityGroup],
    });
    // One integration for every route of the API (the $default route, the throttled ones, the refused
    // /internal): each request reaches the services with the client's address in `clientIpHeader`, overwritten,
    // so whatever a client sent under that name is gone.
    const integration = new HttpAlbIntegration('LoadBalancer', this.listener, {
      vpcLink: this.vpcLink,
      parameterMapping: new apigwv2.ParameterMapping().overwriteHeader(
        this.clientIpHeader,
        apigwv2.MappingValue.contextVariable('identity.sourceIp'),
      ),
      ...(props.domain !== undefined ? { secureServerName: props.domain.domainName } : {}),
    });

    this.api = new apigwv2.HttpApi(this, 'Api', {
      apiName: `${props.prefix}-api`,
      description: 'Front door of the shop services: VPC link to the internal load balancer',
      defaultIntegration: integration,
      createDefaultStage: false,
    });
    const routes: apigwv2.HttpRoute[] = [];
    // Rejected by the gateway itself: IAM authorization that no principal is granted (execute-api:Invoke).
    for (const path of ['/internal', '/internal/{proxy+}']) {
      routes.push(
        ...this.api.addRoutes({
          path,
          methods: [apigwv2.HttpMethod.ANY],
          integration,
          authorizer: new HttpIamAuthorizer(),
        }),
      );
    }
    const routeThrottles = props.config.routeThrottles ?? GATEWAY_DEFAULTS.routeThrottles;
    for (const routeKey of Object.keys(routeThrottles)) {
      const [method, path] = routeKey.split(' ') as [string, string];
      const added = this.api.addRoutes({ path, methods: [method as apigwv2.HttpMethod], integration });
      for (const route of added) {
        acknowledgePublicRoute(
          route,
          'Public shop route (log-in, sign-up): the users service authenticates the session cookie itself; a ' +
            'gateway authorizer cannot, and these routes exist to throttle them more strictly.',
        );
      }
      routes.push(...added);
    }
    const defaultRoute = this.api.node.tryFindChild('DefaultRoute');
    if (defaultRoute !== undefined) {
      acknowledgePublicRoute(
        defaultRoute,
        'The shop is a public website: the storefront and the catalog need no login, and the services ' +
          'authenticate the session cookie themselves (the users service owns sessions in the shared store).',
      );
    }

    this.accessLogGroup = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.config.accessLogRetention ?? GATEWAY_DEFAULTS.accessLogRetention,
      encryptionKey: props.logEncryptionKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.accessLogGroup).acknowledge({
      id: 'cdk-validator-cfnguard::cloudwatch_log_group_encrypted_check',
      reason:
        "Encrypted with the network stack's logs key, whose ARN arrives as a stack import (Fn::ImportValue), which " +
        'the rule does not recognise as a key (test/security/templates-security.test.ts checks KmsKeyId).',
    });

    if (props.domain !== undefined) {
      this.domainName = new apigwv2.DomainName(this, 'DomainName', {
        domainName: props.domain.domainName,
        certificate: props.domain.certificate,
        securityPolicy: apigwv2.SecurityPolicy.TLS_1_2,
      });
    }
    const throttle = props.config.throttle ?? GATEWAY_DEFAULTS.throttle;
    this.stage = new apigwv2.HttpStage(this, 'Stage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: toThrottleSettings(throttle),
      detailedMetricsEnabled: true,
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(this.accessLogGroup),
        format: apigw.AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            requestTime: '$context.requestTime',
            method: '$context.httpMethod',
            path: '$context.path',
            routeKey: '$context.routeKey',
            status: '$context.status',
            responseLength: '$context.responseLength',
            latencyMs: '$context.responseLatency',
            integrationStatus: '$context.integrationStatus',
            integrationLatencyMs: '$context.integrationLatency',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    });
    // The mapping under an id of its own: the stage's `domainMapping` would name it after the domain construct's
    // path and the mapping key (`...DomainNameundefined...`), an id that changes if either does.
    if (this.domainName !== undefined) {
      this.apiMapping = new apigwv2.ApiMapping(this, 'ApiMapping', {
        api: this.api,
        domainName: this.domainName,
        stage: this.stage,
      });
    }
    // Per-route throttles are stage route settings (no L2 property); each key must be a route of the API.
    const cfnStage = this.stage.node.defaultChild as apigwv2.CfnStage;
    cfnStage.routeSettings = Object.fromEntries(
      Object.entries(routeThrottles).map(([routeKey, limit]) => [
        routeKey,
        { ThrottlingRateLimit: limit.rateLimit, ThrottlingBurstLimit: limit.burstLimit },
      ]),
    );
    for (const route of routes) this.stage.node.addDependency(route);
    this.url = this.api.apiEndpoint;
  }

  /**
   * Makes `service` the internal listener's default action: it answers what no rule matches (the
   * storefront's static files, the catalog). Its own rule (from its route) is added by the service.
   */
  public setDefaultService(service: Pick<AppService, 'targetGroup'>): void {
    this.listener.addTargetGroups('DefaultService', { targetGroups: [service.targetGroup] });
  }

  /**
   * Adds the gateway's alarms and dashboard section: the HTTP API's 5xx count and p99 latency
   * (`<prefix>-Gateway-...`) and the internal load balancer's 5xx rate (`<prefix>-InternalLoadBalancer-...`).
   */
  public addMonitoring(monitoring: StageMonitoring): void {
    const { config } = monitoring;
    monitoring.facade.monitorApiGatewayV2HttpApi({
      api: this.api,
      alarmFriendlyName: 'Gateway',
      humanReadableName: 'API gateway (HTTP API)',
      // The 5xx share of requests (Average of 5xx is a fraction of 1), the load balancer's rate threshold.
      add5xxRateAlarm: { Critical: { maxErrorRate: config.alb5xxRatePercent / 100 } },
      addLatencyP99Alarm: { Critical: { maxLatency: Duration.millis(config.albP99LatencyMs * 2) } },
    });
    monitoring.addLoadBalancer(this.loadBalancer, {
      name: 'InternalLoadBalancer',
      title: 'Internal load balancer (gateway to services)',
    });
  }
}

/** A route without a gateway authorizer, on purpose: the same reason for cdk-nag and the Control Tower rule. */
function acknowledgePublicRoute(route: Construct, reason: string): void {
  for (const id of [
    'AwsSolutions-APIG4',
    'cdk-validator-cfnguard::api_gw_v2_authorization_type_configured_check',
  ]) {
    Validations.of(route).acknowledge({ id, reason });
  }
}

/** A throttle of the stage config as the L2 stage's settings. */
function toThrottleSettings(throttle: GatewayThrottleConfig): apigwv2.ThrottleSettings {
  return { rateLimit: throttle.rateLimit, burstLimit: throttle.burstLimit };
}
