import { Annotations, CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as route53 from 'aws-cdk-lib/aws-route53';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import { DEFAULT_MONITORING_CONFIG, NETWORK_DEFAULTS } from '../config/defaults';
import type { FrontDoor } from '../config/deployment-context';
import { eventSource } from '../config/event-routes';
import { appPoolConnections } from '../config/monitoring-config';
import { pascalCase } from '../config/naming';
import { StageConfigError } from '../config/validate-stage-config';
import type { StageConfig } from '../config/stage-config';
import type { RegionRole } from '../config/region-role';
import { AccessLogsBucket } from '../constructs/access-logs-bucket';
import { ApiGateway } from '../constructs/api-gateway';
import { AppService } from '../constructs/app-service';
import { shardZero, type DataEndpoints } from '../constructs/data-endpoints';
import { MigrationTask } from '../constructs/migration-task';
import { RegionalApiDomain } from '../constructs/regional-api-domain';
import { ServicePlatform, type HostedZoneReference, type HttpsConfig } from '../constructs/service-platform';
import { ShardManagerTask } from '../constructs/shard-manager-task';
import { StageMonitoring } from '../constructs/stage-monitoring';

/** Properties of {@link ServiceStack}. */
export interface ServiceStackProps extends StackProps {
  /** The stage. */
  readonly config: StageConfig;
  /** The VPC. */
  readonly vpc: ec2.IVpc;
  /**
   * Security group of the stage's first service (it lives in the network stack, and the data stack admits
   * it). Further services have their own.
   */
  readonly appSecurityGroup: ec2.ISecurityGroup;
  /**
   * Security group ids of data endpoints that already admit `appSecurityGroup`: the first service admits
   * itself only on the others.
   *
   * @default - none
   */
  readonly appSecurityGroupAdmittedBy?: readonly string[];
  /** Key encrypting the container logs. */
  readonly logsKey: kms.IKey;
  /** How the services reach the region's data: the data tier's endpoints, nothing else. */
  readonly data: DataEndpoints;
  /** Prefix of physical names (alarms, Cloud Map namespace `<prefix>.internal`). */
  readonly prefix: string;
  /**
   * Name of the dashboard (global to the account: a region other than the home region includes its code).
   *
   * @default - the prefix
   */
  readonly dashboardName?: string;
  /**
   * HTTPS settings of the internet-facing load balancer (none in a secondary region of stage global: its load
   * balancer is internal, and the platform refuses them there).
   *
   * @default - HTTP only, with a synth warning (none for an internal load balancer)
   */
  readonly https?: HttpsConfig;
  /**
   * Without `https`: plain HTTP chosen on purpose (`-c plainHttp=true`); only the synth warning differs. Ignored in
   * a secondary region of stage global (its internal load balancer serves no viewer: there is nothing to choose).
   *
   * @default false
   */
  readonly plainHttp?: boolean;
  /** Email subscribed to the alarm topic. @default - no subscription */
  readonly alarmEmail?: string;
  /** The app's `ADMIN_EMAILS`. @default - no admins by email */
  readonly adminEmails?: string;
  /**
   * What the domain's alias record points at: the public load balancer (`alb`), or (the stage 1m cut-over,
   * `gateway`) the API gateway's custom domain. The record is updated in place, never replaced.
   * `createBlueprintApp` requires it to be set when the stage has a gateway and the record is managed.
   *
   * @default 'alb'
   */
  readonly frontDoor?: FrontDoor;
  /**
   * This region's part in stage global: every task is told its role (`REGION_ROLE`, `HOME_REGION`); a secondary
   * region reads its read-only databases and runs no migration and no shard manager (nothing writes there).
   *
   * @default - a region of its own
   */
  readonly regionRole?: RegionRole;
  /**
   * This region's role for writes (stage global, `-c writerRegion`): what the tasks are told (`REGION_ROLE`,
   * `HOME_REGION`) and whether they read only. `regionRole` keeps the data stacks' shape: the migration task and the
   * shard manager stay in the first region, whose data stack holds the migration secrets' primaries.
   *
   * @default - `regionRole`
   */
  readonly writerRole?: RegionRole;
}

/**
 * The stateless part of a region: the {@link ServicePlatform} (ECS cluster, Cloud Map namespace, load
 * balancer, access logs), one {@link AppService} per service of the stage (the first, `shop`, is the
 * listener's default; further ones come from `config.services`), and the region's dashboard and alarms.
 * Shards and the cache add their own sections to `monitoring`.
 */
export class ServiceStack extends Stack {
  /** The platform every service runs on. */
  public readonly platform: ServicePlatform;
  /** The stage's first service (`shop`). */
  public readonly shop: AppService;
  /** Every service, the first one first. */
  public readonly services: readonly AppService[];
  /**
   * The migration task of every shard, run before the services change; none in a secondary region of stage global
   * (its databases are read-only replicas: the home region's migration reaches them by replication).
   */
  public readonly migration?: MigrationTask;
  /** The shard manager's one-off task definition, when the stage has shards beyond shard 0. */
  public readonly shardManager?: ShardManagerTask;
  /** Dashboard and alarms. */
  public readonly monitoring: StageMonitoring;
  /** The API gateway in front of the further services (stage 1m on), when the stage has `gateway`. */
  public readonly gateway?: ApiGateway;
  /** The HTTPS settings (stage global's edge cut-over reads the hosted zone). */
  private readonly httpsConfig?: HttpsConfig;

  constructor(scope: Construct, id: string, props: ServiceStackProps) {
    super(scope, id, props);
    const { config } = props;
    this.httpsConfig = props.https;

    // The first service's group lives in the network stack; imported here, the load balancer's ingress rule on
    // it is created in this stack (a rule inside the network stack would make it depend on this one: a cycle).
    const appSecurityGroup = ec2.SecurityGroup.fromSecurityGroupId(
      this,
      'AppSecurityGroup',
      props.appSecurityGroup.securityGroupId,
      { allowAllOutbound: true },
    );
    // The access-log buckets stay where the first stages created them (a move would replace them).
    const accessLogs = new AccessLogsBucket(this, 'AccessLogs');
    const secondary = props.regionRole?.role === 'secondary';
    this.platform = new ServicePlatform(this, 'Shop', {
      vpc: props.vpc,
      namespaceName: `${props.prefix}.internal`,
      accessLogsBucket: accessLogs.bucket,
      // A secondary region of stage global is entered through CloudFront and its API gateway (HTTPS; the Route 53
      // records and health checks name the gateway's custom domains): its load balancer is internal, not a public
      // plain-HTTP door. Keyed on the data stacks' shape (`regionRole`), not on where the writes go: the writer
      // region's services are reached through its gateway too, and an ALB's scheme cannot change in place.
      // Its clients: the VPC's CIDR, as the network stack builds it from the same config.
      ...(secondary
        ? { internal: { clients: ec2.Peer.ipv4(config.network.cidr ?? NETWORK_DEFAULTS.cidr) } }
        : {}),
      // `-c plainHttp` is the deployment's choice for its public load balancers: an internal one has none to make.
      ...(props.https !== undefined
        ? { https: props.https }
        : secondary
          ? {}
          : { plainHttp: props.plainHttp ?? false }),
    });
    // The app's production cookie is Secure, and its session plugin sets a Secure cookie only on a request that
    // arrived over HTTPS (the X-Forwarded-Proto of the load balancer in front of the task): behind a plain-HTTP
    // listener nobody could log in, so tasks that set the cookie get SESSION_COOKIE_SECURE=false there. Tasks that
    // only read sessions (a region whose role is secondary: read-only sessions, log-ins go to the writer region) keep
    // the Secure default, as does every task behind an HTTPS listener.
    const setsSessionCookie = (props.writerRole ?? props.regionRole)?.role !== 'secondary';
    const cookieEnvironment = (httpsListener: boolean): Record<string, string> =>
      httpsListener || !setsSessionCookie ? {} : { SESSION_COOKIE_SECURE: 'false' };
    const environment: Record<string, string> = {
      ...(props.adminEmails !== undefined ? { ADMIN_EMAILS: props.adminEmails } : {}),
      ...cookieEnvironment(this.platform.https),
    };
    const common = {
      platform: this.platform,
      vpc: props.vpc,
      data: props.data,
      logEncryptionKey: props.logsKey,
      environment,
      ...(props.regionRole !== undefined ? { regionRole: props.writerRole ?? props.regionRole } : {}),
    };
    // The first service under the id `Default` (left out of logical ids): its resources keep the ids they had
    // when the platform and the service were one construct.
    this.shop = new AppService(this.platform, 'Default', {
      ...common,
      serviceId: 'shop',
      config: config.service,
      // Stage 1m: the monolith publishes to the bus too (until the cut-over it still takes the writes), each event
      // with the source of the service that owns it (cache invalidations with `shop.products`); never `shop.*`. It
      // consumes no domain events (no queue of its own) and still consumes the invalidation queue.
      ...(props.data.events !== undefined
        ? { eventSources: Object.keys(config.services ?? {}).map(eventSource) }
        : {}),
      securityGroup: appSecurityGroup,
      ...(props.appSecurityGroupAdmittedBy !== undefined
        ? { admittedBy: props.appSecurityGroupAdmittedBy }
        : {}),
    });
    // Stage 1m: the API gateway in front of the further services, on an internal load balancer of its own. The
    // public load balancer and the first service stay as they are until the DNS cut-over (README "Stage 1m").
    if (config.gateway !== undefined) {
      this.gateway = new ApiGateway(this, 'Gateway', {
        config: config.gateway,
        serviceIds: Object.keys(config.services ?? {}),
        vpc: props.vpc,
        prefix: props.prefix,
        logEncryptionKey: props.logsKey,
        accessLogsBucket: accessLogs.bucket,
        ...(props.https !== undefined
          ? {
              domain: {
                domainName: props.https.domainName,
                // The certificate the public load balancer uses: the gateway serves the same name after the cut-over.
                certificate:
                  props.https.certificateArn !== undefined
                    ? acm.Certificate.fromCertificateArn(
                        this,
                        'GatewayCertificate',
                        props.https.certificateArn,
                      )
                    : this.platform.certificate!,
              },
            }
          : {}),
      });
    }
    const gateway = this.gateway;
    if (props.frontDoor === 'gateway') this.pointDomainAtGateway(gateway);
    // A service answers over Service Connect only when another calls it (today: products, called by orders);
    // users and orders are clients only, with no Service Connect port of their own.
    const called = new Set(Object.values(config.services ?? {}).flatMap((service) => service.calls ?? []));
    const further = Object.entries(config.services ?? {}).map(
      ([serviceId, service]) =>
        new AppService(this.platform, pascalCase(serviceId), {
          ...common,
          // Behind the gateway the client's address arrives in the header the gateway overwrites (the app's
          // rate limits and logs read it); only the VPC link reaches the internal load balancer, whose listener
          // decides the cookie (HTTPS with the foundation's domain, else HTTP inside the VPC).
          ...(gateway !== undefined
            ? {
                environment: {
                  ...(props.adminEmails !== undefined ? { ADMIN_EMAILS: props.adminEmails } : {}),
                  ...cookieEnvironment(gateway.https),
                  CLIENT_IP_HEADER: gateway.clientIpHeader,
                },
              }
            : {}),
          serviceId,
          config: service,
          route: service.route,
          ...(gateway !== undefined
            ? { routing: { listener: gateway.listener, loadBalancer: gateway.loadBalancer } }
            : {}),
          ...(service.shardAccess !== undefined ? { shardAccess: service.shardAccess } : {}),
          // Calls between services go over Service Connect, in the platform's namespace.
          serviceConnect: { server: called.has(serviceId) },
        }),
    );
    const byId = new Map(further.map((service) => [service.serviceId, service]));
    for (const [serviceId, service] of Object.entries(config.services ?? {})) {
      for (const called of service.calls ?? []) byId.get(serviceId)!.callService(byId.get(called)!);
    }
    if (gateway !== undefined) gateway.setDefaultService(byId.get(config.gateway!.defaultService)!);
    this.services = [this.shop, ...further];

    // Migrations run as the schema owner in a one-off task of the same image, on the first service's network
    // (admitted to every shard) and log group, before any service gets a new task definition. With further
    // shards (stage 100k) the same run migrates each of them (SHARD_ENDPOINTS with the owners' secrets). A secondary
    // region of stage global has no writer to migrate: its databases follow the home region's by replication.
    if (!secondary) {
      const migration = new MigrationTask(this, 'Migration', {
        cluster: this.platform.cluster,
        vpc: props.vpc,
        database: shardZero(props.data),
        shards: props.data.shards,
        securityGroup: appSecurityGroup,
        logGroup: this.shop.logGroup,
        ...(config.service.cpuArchitecture !== undefined
          ? { cpuArchitecture: config.service.cpuArchitecture }
          : {}),
      });
      this.migration = migration;
      // On the service resource only: its scaling target and policies need not wait.
      for (const { service } of this.services) service.node.defaultChild!.node.addDependency(migration.run);
      // The task connects through the first service's group: a shard that group was just admitted to (a new shard
      // stack) is reachable only once the ingress rule exists.
      for (const admission of this.shop.admissions) migration.run.node.addDependency(admission);
    }

    // The shard manager (stage 100k on): a task definition an operator runs (`aws ecs run-task`), on the first
    // service's group (admitted to every shard) and log group. Only where the writers are: not in a secondary region.
    if (props.data.shards.length > 1 && !secondary) {
      this.shardManager = new ShardManagerTask(this, 'ShardManager', {
        shards: props.data.shards,
        logGroup: this.shop.logGroup,
        ...(config.service.cpuArchitecture !== undefined
          ? { cpuArchitecture: config.service.cpuArchitecture }
          : {}),
      });
    }

    const dashboardName = props.dashboardName ?? props.prefix;
    this.monitoring = new StageMonitoring(this, 'Monitoring', {
      config: { ...DEFAULT_MONITORING_CONFIG, ...(config.monitoring ?? {}) },
      ...(props.alarmEmail !== undefined ? { alarmEmail: props.alarmEmail } : {}),
      dashboardName,
      alarmNamePrefix: props.prefix,
      // Proxy alarms are shares of what the services can open: every service at its most tasks, pools full.
      databasePoolConnections: appPoolConnections([config.service, ...Object.values(config.services ?? {})]),
      appMetricsNamespace: `${props.prefix}/App`,
    });
    this.monitoring.addLoadBalancer(this.platform.loadBalancer);
    for (const service of this.services) service.addMonitoring(this.monitoring);
    this.gateway?.addMonitoring(this.monitoring);

    new CfnOutput(this, 'Url', {
      value: this.platform.url,
      description: this.platform.internetFacing
        ? 'URL of the shop'
        : "URL of the region's internal load balancer (inside the VPC only; viewers come through the edge)",
    });
    if (this.gateway !== undefined) {
      new CfnOutput(this, 'GatewayUrl', {
        value: this.gateway.url,
        description: 'The API gateway (execute-api URL): test the services here before the DNS cut-over',
      });
      if (this.gateway.domainName !== undefined) {
        new CfnOutput(this, 'GatewayDomainTarget', {
          value: this.gateway.domainName.regionalDomainName,
          description: "Cut-over: point the shop's domain (alias or CNAME) here instead of the load balancer",
        });
      }
    }
    new CfnOutput(this, 'LoadBalancerDnsName', {
      value: this.platform.loadBalancer.loadBalancerDnsName,
      description: this.platform.internetFacing
        ? 'Point the domain (CNAME or alias record) at this name'
        : 'The internal load balancer (resolves to private addresses, reached from inside the VPC only)',
    });
  }

  /**
   * Stage global: the region's API hostnames `api.<domainName>` and `api-<region>.<domainName>` on its API gateway
   * (regional certificate, custom domains, the `api-<region>` alias record), all in this stack; additions only, so
   * the home region's existing resources stay as they are.
   *
   * @throws StageConfigError when the stage has no gateway (the hostnames front the gateway)
   */
  public addRegionalApiDomain(props: {
    readonly domainName: string;
    readonly hostedZone: HostedZoneReference;
  }): RegionalApiDomain {
    if (this.gateway === undefined) {
      throw new StageConfigError([
        {
          key: 'gateway',
          received: undefined,
          fix: "stage global routes to each region's API gateway: build it on stage 1m (which has gateway)",
        },
      ]);
    }
    const domain = new RegionalApiDomain(this, 'RegionalApi', {
      api: this.gateway.api,
      stage: this.gateway.stage,
      region: this.region,
      domainName: props.domainName,
      hostedZone: props.hostedZone,
    });
    new CfnOutput(this, 'RegionalApiUrl', {
      value: `https://${domain.regionalHostname}`,
      description: 'The API in this region only (what the Route 53 health check requests, at /readyz)',
    });
    return domain;
  }

  /**
   * Stage global's cut-over to the edge: the platform's alias record of the domain (same construct, same logical
   * id: CloudFormation updates it in place, as in the stage 1m cut-over) and a new AAAA record alias `hostname`,
   * the edge stack's name for the CloudFront distribution in the same hosted zone. A name in the zone, not the
   * distribution's generated one: no cross-region reference, and each record has one owning stack. Route 53 refuses
   * an alias to a name that does not exist, so this stack depends on the edge stack (deployed first).
   *
   * @throws Error when this stack writes no record of the domain (HTTPS without a hosted zone)
   */
  public pointDomainAtEdge(edge: { readonly hostname: string; readonly stack: Stack }): void {
    const record = this.platform.aliasRecord;
    const hostedZone = this.httpsConfig?.hostedZone;
    if (record === undefined || hostedZone === undefined) {
      throw new Error(
        `${this.node.path}: the edge needs the domain's record in a hosted zone; pass -c hostedZoneId=Z... ` +
          '-c hostedZoneName=<zone> (stage global writes the records of the domain and of its API hostnames there)',
      );
    }
    const target = route53.RecordTarget.fromAlias({
      bind: () => ({
        dnsName: edge.hostname,
        hostedZoneId: hostedZone.hostedZoneId,
        evaluateTargetHealth: false,
      }),
    });
    (record.node.defaultChild as route53.CfnRecordSet).aliasTarget = {
      dnsName: edge.hostname,
      hostedZoneId: hostedZone.hostedZoneId,
      evaluateTargetHealth: false,
    };
    new route53.AaaaRecord(this, 'DomainRecordIpv6', {
      zone: route53.HostedZone.fromHostedZoneAttributes(this, 'DomainZone', hostedZone),
      recordName: this.httpsConfig!.domainName,
      target,
      comment: 'The shop, on the CloudFront distribution (IPv6)',
    });
    this.addStackDependency(edge.stack, "the domain aliases the edge stack's record of the distribution");
  }

  /**
   * The stage 1m cut-over: the platform's alias record of the domain (same construct, same logical id) points at
   * the gateway's custom domain instead of the public load balancer; CloudFormation updates the record in place.
   * Without a hosted zone the record is yours: point it at the `GatewayDomainTarget` output.
   */
  private pointDomainAtGateway(gateway: ApiGateway | undefined): void {
    if (gateway === undefined) {
      throw new StageConfigError([
        {
          key: 'context.frontDoor',
          received: 'gateway',
          fix: 'use a stage with a gateway (1m), or leave frontDoor out',
        },
      ]);
    }
    const record = this.platform.aliasRecord;
    const domainName = gateway.domainName;
    if (record === undefined || domainName === undefined) {
      Annotations.of(this).addWarningV2(
        '@shop/blueprint:frontDoorDns',
        'frontDoor=gateway without a hosted zone: the blueprint writes no DNS record; point your domain at the ' +
          'GatewayDomainTarget output (or test on the GatewayUrl output) yourself.',
      );
      return;
    }
    (record.node.defaultChild as route53.CfnRecordSet).aliasTarget = {
      dnsName: domainName.regionalDomainName,
      hostedZoneId: domainName.regionalHostedZoneId,
      evaluateTargetHealth: false,
    };
  }
}
