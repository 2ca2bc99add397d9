import { Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { SERVICE_CONNECT_DEFAULTS, SERVICE_DEFAULTS } from '../config/defaults';
import { eventSource } from '../config/event-routes';
import { pascalCase } from '../config/naming';
import { serviceConfigProblems } from '../config/validate-stage-config';
import type { ServiceConfig, ServiceRouteConfig } from '../config/stage-config';
import { regionRoleEnvironment, type RegionRole } from '../config/region-role';
import { StageConfigError } from '../config/validate-stage-config';
import { shardZero, type DataEndpoints, type EventsEndpoint } from './data-endpoints';
import { MetricsCollector } from './metrics-collector';
import { grantInvalidationQueue } from './invalidation-queue';
import { REPO_ROOT, type ServicePlatform } from './service-platform';
import { shardAppSecret, shardEndpointsEnvironment } from './shard-endpoints';
import type { StageMonitoring } from './stage-monitoring';

/** Where a service's route is added. */
export interface ServiceRouting {
  /** The load balancer (its target group metrics and alarms). */
  readonly loadBalancer: elbv2.IApplicationLoadBalancer;
  /** The listener the route's rule is added to. */
  readonly listener: elbv2.ApplicationListener;
}

/** Service Connect settings of a service. Feeds `ecs.ServiceConnectService`. */
export interface AppServiceConnectOptions {
  /**
   * Whether other services call this one: it then answers at `http://<serviceId>` (client alias port 80) on its
   * internal port (`INTERNAL_PORT`, a port mapping named `<serviceId>`, appProtocol http). The load balancer
   * keeps targeting the main port, so its traffic never passes the Service Connect proxy.
   *
   * @default false - a client only: it may call other services, and has no Service Connect port of its own
   */
  readonly server?: boolean;
  /**
   * Idle connections are closed after this long; must stay below the app's HTTP keep-alive.
   *
   * @default SERVICE_CONNECT_DEFAULTS.idleTimeout
   */
  readonly idleTimeout?: Duration;
  /**
   * Longest one request may take.
   *
   * @default SERVICE_CONNECT_DEFAULTS.perRequestTimeout
   */
  readonly perRequestTimeout?: Duration;
}

/** Properties of {@link AppService}. */
export interface AppServiceProps {
  /** Stable service id (`shop` for the stage's `service`, the key under `services` for the others). */
  readonly serviceId: string;
  /** The service's configuration. */
  readonly config: ServiceConfig;
  /**
   * Path patterns and listener-rule priority this service answers on the public listener.
   *
   * @default - the listener's default action: everything no other rule matches
   */
  readonly route?: ServiceRouteConfig;
  /** The region's platform: cluster, load balancer, public listener. */
  readonly platform: ServicePlatform;
  /**
   * The load balancer and listener `route` is added to (stage 1m: the API gateway's internal load balancer).
   *
   * @default - the platform's public load balancer and listener
   */
  readonly routing?: ServiceRouting;
  /**
   * Which shards this service reaches: `catalog` is shard 0 only (its secret, its security group; no
   * `SHARD_ENDPOINTS`), `all` every shard.
   *
   * @default 'all'
   */
  readonly shardAccess?: 'catalog' | 'all';
  /**
   * ECS Service Connect in the platform's namespace: the service may call others ({@link AppService.callService})
   * and, with `server`, answers them at `http://<serviceId>` (client alias port 80) on its internal port.
   *
   * @default - no Service Connect
   */
  readonly serviceConnect?: AppServiceConnectOptions;
  /**
   * The event sources (`Source` of PutEvents entries) the tasks may publish with, when the data tier has a bus.
   * The monolith of stage 1m publishes every service's events, each with its producer's source.
   *
   * @default - the service's own source only (`shop.<serviceId>`)
   */
  readonly eventSources?: readonly string[];
  /** VPC: the tasks go into its private subnets. */
  readonly vpc: ec2.IVpc;
  /** The data tier this service reaches: shard 0 and the cache are its `DB_*` and `REDIS_*` settings. */
  readonly data: DataEndpoints;
  /**
   * Security group of the tasks.
   *
   * @default - a group of its own (`SecurityGroup`)
   */
  readonly securityGroup?: ec2.ISecurityGroup;
  /**
   * Security group ids of data endpoints that already admit `securityGroup` (the data stack admits the
   * stage's first service itself). The service admits itself on every other endpoint's group.
   *
   * @default - none: the service admits itself everywhere
   */
  readonly admittedBy?: readonly string[];
  /** Key encrypting the container log group. */
  readonly logEncryptionKey: kms.IKey;
  /**
   * Extra plain environment of the app container (e.g. `ADMIN_EMAILS`).
   *
   * @default - none
   */
  readonly environment?: Record<string, string>;
  /**
   * This region's part in stage global: the tasks get `REGION_ROLE` and `HOME_REGION`; in a secondary region every
   * database host (`DB_HOST`, `DB_READER_HOST`, each `SHARD_ENDPOINTS` entry) is the shard's reader endpoint, and
   * sessions are read from `data.sessions` (`SESSION_REDIS_HOST`/`PORT`).
   *
   * @default - a region of its own: no region variables
   */
  readonly regionRole?: RegionRole;
  /**
   * The app's container image.
   *
   * @default - built from app/Dockerfile with the repository root as context, for `config.cpuArchitecture`
   */
  readonly image?: ecs.ContainerImage;
}

/**
 * One service of the app on the region's {@link ServicePlatform}: task definition (the one app image;
 * `SERVICE=<id>` picks the routes of a service other than the first), Fargate service with the circuit
 * breaker and rollback in private subnets, its target group on the public listener (the default action, or a
 * listener rule for its paths), its own security group admitted to the data it reaches, autoscaling, and its
 * own alarms and dashboard section ({@link AppService.addMonitoring}). From stage 1m a further service routes on
 * the API gateway's internal listener (`routing`), may reach shard 0 only (`shardAccess: 'catalog'`), answers and
 * calls other services over ECS Service Connect (`serviceConnect`, {@link AppService.callService}), and publishes
 * and consumes domain events when the data tier has a bus (`data.events`).
 *
 * With `config.autoscaling`, the task count is owned by target-tracking policies (CPU, and ALB requests per
 * target when configured) and the service's `DesiredCount` is not rendered, so a deployment never resets a
 * scaled-out service.
 */
export class AppService extends Construct {
  /** The stable service id. */
  public readonly serviceId: string;
  /** The task definition. */
  public readonly taskDefinition: ecs.FargateTaskDefinition;
  /** The app container. */
  public readonly container: ecs.ContainerDefinition;
  /** The service. */
  public readonly service: ecs.FargateService;
  /** The target group the service registers in. */
  public readonly targetGroup: elbv2.ApplicationTargetGroup;
  /** Security group of the tasks. */
  public readonly securityGroup: ec2.ISecurityGroup;
  /** The container log group. */
  public readonly logGroup: logs.LogGroup;
  /** The load balancer in front of it (the public one, or the gateway's internal one). */
  public readonly loadBalancer: elbv2.IApplicationLoadBalancer;
  /** Scalable task count, when autoscaling is configured. */
  public readonly scaling?: ecs.ScalableTaskCount;
  /**
   * The ingress rules this service created on data endpoints' groups (one imported group each, the rules its
   * children): what a task on {@link AppService.securityGroup} must wait for before it connects.
   */
  public readonly admissions: readonly Construct[];
  /** Whether other services call this one over Service Connect (it publishes its internal port). */
  public readonly serviceConnectServer: boolean;
  private readonly primary: boolean;
  private readonly logEncryptionKey: kms.IKey;

  constructor(scope: Construct, id: string, props: AppServiceProps) {
    super(scope, id);
    const problems = serviceConfigProblems(props.config, 'config.');
    if (problems.length > 0) throw new StageConfigError(problems);
    const { config } = props;
    this.serviceId = props.serviceId;
    this.primary = props.route === undefined;
    this.logEncryptionKey = props.logEncryptionKey;
    const arm = (config.cpuArchitecture ?? SERVICE_DEFAULTS.cpuArchitecture) === 'ARM64';
    const port = SERVICE_DEFAULTS.containerPort;
    // Service Connect publishes the internal port only (the stage 1m amendment): the main port, the load
    // balancer's target, keeps the name the first service always had and no proxy in its path.
    this.serviceConnectServer = props.serviceConnect?.server ?? false;
    const internalPort = SERVICE_DEFAULTS.internalPort;

    // Keys and secrets of the data tier are imported by ARN: granting on the data stack's own objects would
    // write this stack's roles into the data stack's key policy, and the two stacks would depend on each other.
    const keys = new Map<string, kms.IKey>();
    const importKey = (arn: string): kms.IKey => {
      let key = keys.get(arn);
      if (key === undefined) {
        key = kms.Key.fromKeyArn(this, keys.size === 0 ? 'DataKey' : `DataKey${keys.size + 1}`, arn);
        keys.set(arn, key);
      }
      return key;
    };
    // A secret this stack does not own is known by its complete ARN (a token), or, for a secondary region's replica
    // of a shared secret (stage global), by the partial ARN of its fixed name.
    const importSecret = (secretId: string, arn: string, keyArn: string) =>
      secretsmanager.Secret.fromSecretAttributes(this, secretId, {
        ...(Token.isUnresolved(arn) || /-[A-Za-z0-9]{6}$/.test(arn)
          ? { secretCompleteArn: arn }
          : { secretPartialArn: arn }),
        encryptionKey: importKey(keyArn),
      });
    const { cache, sessions } = props.data;
    const shard = shardZero(props.data);
    // Stage global, secondary region: no writer in the region; the app reads the shard's replica for everything.
    const readerOnly = props.regionRole?.role === 'secondary';
    // Least privilege: a catalog-only service (products) reads shard 0's secret and is admitted to shard 0 only.
    const shards = props.shardAccess === 'catalog' ? [shard] : props.data.shards;
    // Which of a shard's secrets the app logs in with is decided in one place (shardAppSecret), for every shard.
    const appSecret = shardAppSecret(shard);
    const databaseSecret = importSecret('DatabaseSecret', appSecret.secretArn, appSecret.keyArn);

    // Endpoints: through the proxy when there is one, otherwise straight to the cluster. Both are verified
    // (DB_SSL=verify-full): the app trusts Node's CAs (the proxy's ACM certificate) plus the RDS CA bundle it
    // ships (Aurora's own certificate).
    const environment: Record<string, string> = {
      DB_HOST: readerOnly ? (shard.readerHost ?? shard.writerHost) : shard.writerHost,
      DB_PORT: String(shard.port),
      DB_NAME: shard.databaseName,
      DB_SSL: 'verify-full',
      // The app reads user and password from the secret when it opens a connection, and again when the
      // database rejects them: the secret rotates, and values injected at task start would go stale.
      DB_SECRET_ARN: databaseSecret.secretArn,
      // No AUTO_MIGRATE: in production the app migrates only as the one-off migration task (MigrationTask).
      ...(shard.readerHost !== undefined || readerOnly
        ? { DB_READER_HOST: shard.readerHost ?? shard.writerHost }
        : {}),
      ...(cache !== undefined
        ? {
            REDIS_HOST: cache.host,
            REDIS_PORT: String(cache.port),
            REDIS_TLS: 'true',
            CACHE_STORE: 'redis',
            SESSION_STORE: 'redis',
          }
        : { CACHE_STORE: 'memory', SESSION_STORE: 'memory' }),
      ...(props.environment ?? {}),
      // One image for every service: SERVICE picks the routes of a service other than the first.
      ...(this.primary ? {} : { SERVICE: props.serviceId }),
      // Stated, not left to the app's default: the port mapping Service Connect publishes must be the port the
      // internal server listens on.
      ...(this.serviceConnectServer ? { INTERNAL_PORT: String(internalPort) } : {}),
    };
    const sessionSecret = importSecret(
      'SessionSecret',
      props.data.sessionSecretArn,
      props.data.sessionSecretKeyArn,
    );
    const secrets: Record<string, ecs.Secret> = {
      SESSION_SECRET: ecs.Secret.fromSecretsManager(sessionSecret),
      ...(cache !== undefined
        ? {
            REDIS_AUTH_TOKEN: ecs.Secret.fromSecretsManager(
              importSecret('CacheAuthToken', cache.authTokenSecretArn, cache.secretKeyArn),
            ),
          }
        : {}),
    };
    const ecsSecretKeys = [
      importKey(props.data.sessionSecretKeyArn),
      ...(cache !== undefined ? [importKey(cache.secretKeyArn)] : []),
    ];

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: config.logRetention ?? SERVICE_DEFAULTS.logRetention,
      encryptionKey: props.logEncryptionKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.logGroup).acknowledge({
      id: 'cdk-validator-cfnguard::cloudwatch_log_group_encrypted_check',
      reason:
        "Encrypted with the network stack's logs key, whose ARN arrives as a stack import (Fn::ImportValue), which " +
        'the rule does not recognise as a key (test/security/templates-security.test.ts checks KmsKeyId).',
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
      environment: { NODE_ENV: 'production', PORT: String(port), ...environment },
      secrets,
      // The first mapping is the load balancer's target (attachToApplicationTargetGroup takes it). Service Connect
      // finds a server's port by name: the service id, on the internal port.
      portMappings: [
        { containerPort: port, name: 'http' },
        ...(this.serviceConnectServer
          ? [{ containerPort: internalPort, name: props.serviceId, appProtocol: ecs.AppProtocol.http }]
          : []),
      ],
      // Non-blocking with a bounded buffer: while CloudWatch Logs is slow or unreachable the app's writes to
      // stdout never block (and with them its requests); past the buffer the driver drops lines instead.
      logging: ecs.LogDrivers.awsLogs({
        streamPrefix: 'app',
        logGroup: this.logGroup,
        mode: ecs.AwsLogDriverMode.NON_BLOCKING,
        maxBufferSize: SERVICE_DEFAULTS.logBufferSize,
      }),
      // Nothing in the image writes to its filesystem (logs go to stdout, the database and the cache are
      // remote, PGlite is not used in AWS), so the root filesystem is read-only and no volume is mounted.
      // Fargate has no tmpfs; were scratch space ever needed, it would be a task volume mounted at that path.
      readonlyRootFilesystem: true,
      // The image's own non-root user (app/Dockerfile `USER node`), stated so the task definition says it too.
      user: 'node',
      // Liveness (the process answers), the same endpoint as the target group's check; a database outage is
      // reported by /readyz and the alarms, and must not make ECS replace healthy tasks.
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
    // ECS reads the secrets at task start; they are encrypted with customer-managed keys, which the execution
    // role may use only through Secrets Manager.
    iam.Grant.addToPrincipal({
      grantee: executionRole,
      actions: ['kms:Decrypt'],
      resourceArns: [...new Set(ecsSecretKeys)].map((key) => key.keyArn),
      conditions: {
        StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(this).region}.amazonaws.com` },
      },
    });
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

    this.securityGroup =
      props.securityGroup ??
      new ec2.SecurityGroup(this, 'SecurityGroup', {
        vpc: props.vpc,
        description: `Tasks of the ${props.serviceId} service`,
        // The tasks call AWS APIs (ECR, Secrets Manager, CloudWatch) through the NAT gateway.
        allowAllOutbound: true,
      });

    this.service = new ecs.FargateService(this, 'Service', {
      cluster: props.platform.cluster,
      taskDefinition: this.taskDefinition,
      // With autoscaling the scalable target owns the count; rendering it would reset it on every deploy.
      ...(config.autoscaling === undefined ? { desiredCount: config.desiredCount } : {}),
      securityGroups: [this.securityGroup],
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      assignPublicIp: false,
      circuitBreaker: { enable: true, rollback: true },
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      healthCheckGracePeriod: Duration.seconds(60),
      propagateTags: ecs.PropagatedTagSource.SERVICE,
      ...(props.serviceConnect !== undefined
        ? {
            serviceConnectConfiguration: {
              namespace: props.platform.namespace.namespaceArn,
              // A client only has no services (the key left out): it gets the proxy for its calls and publishes
              // nothing.
              ...(this.serviceConnectServer
                ? {
                    services: [
                      {
                        portMappingName: props.serviceId,
                        dnsName: props.serviceId,
                        port: SERVICE_CONNECT_DEFAULTS.clientAliasPort,
                        idleTimeout: props.serviceConnect.idleTimeout ?? SERVICE_CONNECT_DEFAULTS.idleTimeout,
                        perRequestTimeout:
                          props.serviceConnect.perRequestTimeout ??
                          SERVICE_CONNECT_DEFAULTS.perRequestTimeout,
                      },
                    ],
                  }
                : {}),
              // The proxy's own logs, next to the app's, encrypted with the same key.
              logDriver: ecs.LogDrivers.awsLogs({
                streamPrefix: 'service-connect',
                logGroup: this.logGroup,
                mode: ecs.AwsLogDriverMode.NON_BLOCKING,
                maxBufferSize: SERVICE_DEFAULTS.logBufferSize,
              }),
            },
          }
        : {}),
    });

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
    this.loadBalancer = props.routing?.loadBalancer ?? props.platform.loadBalancer;
    const listener = props.routing?.listener ?? props.platform.publicListener;
    if (props.route === undefined) {
      listener.addTargetGroups(`${pascalCase(props.serviceId)}Default`, { targetGroups: [this.targetGroup] });
    } else {
      listener.addTargetGroups(pascalCase(props.serviceId), {
        priority: props.route.priority,
        conditions: [elbv2.ListenerCondition.pathPatterns([...props.route.pathPatterns])],
        targetGroups: [this.targetGroup],
      });
    }

    // The app reads the database secrets itself. The grant's decrypt half adds nothing for an imported key (it
    // can write neither the key policy nor, through a ViaService principal, the role's), so decrypt is granted
    // here: with the secret's key, and only when Secrets Manager asks on the task's behalf.
    const taskRole = this.taskDefinition.taskRole;
    const shardSecrets = shards.map((endpoint, index) => ({
      secret:
        index === 0
          ? databaseSecret
          : importSecret(
              `Shard${pascalCase(endpoint.shardId)}Secret`,
              shardAppSecret(endpoint).secretArn,
              shardAppSecret(endpoint).keyArn,
            ),
      keyArn: shardAppSecret(endpoint).keyArn,
    }));
    for (const { secret } of shardSecrets) secret.grantRead(taskRole);
    iam.Grant.addToPrincipal({
      grantee: taskRole,
      actions: ['kms:Decrypt'],
      resourceArns: [...new Set(shardSecrets.map(({ keyArn }) => importKey(keyArn).keyArn))],
      conditions: {
        StringEquals: { 'kms:ViaService': `secretsmanager.${this.service.stack.region}.amazonaws.com` },
      },
    });

    // Stage 100k: the shards beyond shard 0 (SHARD_ENDPOINTS) and the invalidation queue, added after the
    // variables above so that the task definitions of earlier stages keep their order.
    const events = props.data.events;
    const sharded = {
      ...shardEndpointsEnvironment(this, shards, { readerOnly }),
      ...(props.data.invalidationQueue !== undefined
        ? grantInvalidationQueue(taskRole, props.data.invalidationQueue, this, {
            // On the bus, a service publishes invalidations as events (routed to this queue): it only consumes.
            // The monolith's tasks of 100k, still running while 1m rolls out, lose SendMessage before they are
            // replaced: their relay retries, and the outbox rows wait in the database for the new tasks (late, not
            // lost; the cache TTL is the safety net).
            send: events === undefined,
          })
        : {}),
      // Stage 1m: domain events. PutEvents on the bus with this service's own source only; its queue, if it
      // consumes any event type (EVENT_ROUTES).
      ...(events !== undefined
        ? grantEventBus(taskRole, events, props.serviceId, this, props.eventSources)
        : {}),
    };
    for (const [name, value] of Object.entries(sharded)) this.container.addEnvironment(name, value);
    // Stage global: the region's role, and in a secondary region where sessions are read (the region's read-only
    // member of the sessions' Global Datastore; AUTH and TLS as the cache's).
    const global = {
      ...(props.regionRole !== undefined ? regionRoleEnvironment(props.regionRole) : {}),
      ...(sessions !== undefined
        ? { SESSION_REDIS_HOST: sessions.host, SESSION_REDIS_PORT: String(sessions.port) }
        : {}),
    };
    for (const [name, value] of Object.entries(global)) this.container.addEnvironment(name, value);

    // Admission: an ingress rule on each data endpoint's group, created in this stack (on the group imported
    // here), so the data stacks never depend on a service stack.
    const admitted = new Set(props.admittedBy ?? []);
    const admissions: Construct[] = [];
    const endpoints = [
      ...shards.map((endpoint) => ({
        name: `Shard${pascalCase(endpoint.shardId)}`,
        groupId: endpoint.securityGroupId,
        port: endpoint.port,
        what: `PostgreSQL (shard ${endpoint.shardId})`,
      })),
      ...(cache !== undefined
        ? [{ name: 'Cache', groupId: cache.securityGroupId, port: cache.port, what: 'Redis' }]
        : []),
      ...(sessions !== undefined
        ? [
            {
              name: 'Sessions',
              groupId: sessions.securityGroupId,
              port: sessions.port,
              what: 'Redis sessions',
            },
          ]
        : []),
    ];
    for (const endpoint of endpoints) {
      if (admitted.has(endpoint.groupId)) continue;
      // One rule per group: sessions on the cache group itself (stage global, the first region while the writers
      // are away) are reached through the cache's rule.
      admitted.add(endpoint.groupId);
      const group = ec2.SecurityGroup.fromSecurityGroupId(this, `${endpoint.name}Clients`, endpoint.groupId, {
        allowAllOutbound: false,
      });
      group.addIngressRule(
        this.securityGroup,
        ec2.Port.tcp(endpoint.port),
        `${endpoint.what} from the ${props.serviceId} tasks`,
      );
      admissions.push(group);
    }
    this.admissions = admissions;

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

  /**
   * Lets this service call `called` over Service Connect: the app gets `<ID>_URL=http://<id>` (e.g.
   * `PRODUCTS_URL=http://products`, alias port 80 to the called service's internal port), the called service's
   * tasks admit this service's tasks on the internal port only (never the main port, which serves the load
   * balancer), and the called service is deployed first (Service Connect resolves a service only for tasks
   * started after it exists). `called` must be a Service Connect server (`serviceConnect.server`).
   */
  public callService(called: AppService): void {
    if (called === this) throw new Error(`AppService ${this.serviceId}: a service does not call itself`);
    if (!called.serviceConnectServer) {
      throw new Error(
        `AppService ${this.serviceId} calls ${called.serviceId}, which has no Service Connect server: give ` +
          `${called.serviceId} serviceConnect: { server: true }`,
      );
    }
    this.container.addEnvironment(
      `${called.serviceId.toUpperCase()}_URL`,
      `http://${called.serviceId}${SERVICE_CONNECT_DEFAULTS.clientAliasPort === 80 ? '' : `:${SERVICE_CONNECT_DEFAULTS.clientAliasPort}`}`,
    );
    called.service.connections.allowFrom(
      this.service,
      ec2.Port.tcp(SERVICE_DEFAULTS.internalPort),
      `${called.serviceId} internal API from the ${this.serviceId} tasks (Service Connect)`,
    );
    this.service.node.addDependency(called.service);
  }

  /**
   * Adds this service's alarms and dashboard section (p99 response time of its target group; CPU, memory
   * and unhealthy tasks) to the region's monitoring. The first service keeps the alarm names it had before
   * services were data (`<prefix>-Service-...`); another carries its id (`<prefix>-UsersService-...`).
   */
  public addMonitoring(monitoring: StageMonitoring): void {
    monitoring.addService({
      service: this.service,
      loadBalancer: this.loadBalancer,
      targetGroup: this.targetGroup,
      namePrefix: this.primary ? '' : pascalCase(this.serviceId),
      title: `Service ${this.serviceId}`,
      serviceId: this.serviceId,
    });
    // The app's own metrics (METRICS_PORT) reach CloudWatch through a collector sidecar.
    if (monitoring.appMetricsNamespace !== undefined) {
      new MetricsCollector(this, 'MetricsCollector', {
        taskDefinition: this.taskDefinition,
        serviceId: this.serviceId,
        namespace: monitoring.appMetricsNamespace,
        logEncryptionKey: this.logEncryptionKey,
      });
    }
  }
}

/**
 * Lets a service's tasks publish domain events and consume its own queue: `events:PutEvents` on the bus only
 * with the service's own source (`shop.<id>`, condition `events:source`; `sources` instead when given: the
 * monolith publishes each service's events with that service's source), and, when the service consumes event
 * types (`EVENT_ROUTES`), `sqs:ReceiveMessage`, `sqs:DeleteMessage` and `sqs:ChangeMessageVisibility` on its
 * queue with `kms:Decrypt` of the queue's key through SQS. Nothing on any other service's queue.
 *
 * @returns the app's environment (`EVENT_BUS=eventbridge`, `EVENT_BUS_NAME`, and for a consumer
 *   `EVENT_QUEUE_URL`, `EVENT_MAX_RECEIVES`)
 */
export function grantEventBus(
  role: iam.IGrantable,
  events: EventsEndpoint,
  serviceId: string,
  scope: Construct,
  sources: readonly string[] = [eventSource(serviceId)],
): Record<string, string> {
  if (sources.length === 0)
    throw new Error(`AppService ${serviceId}: eventSources must name at least one source`);
  iam.Grant.addToPrincipal({
    grantee: role,
    actions: ['events:PutEvents'],
    resourceArns: [events.busArn],
    conditions: { StringEquals: { 'events:source': sources.length === 1 ? sources[0]! : [...sources] } },
  });
  const queue = events.queues[serviceId];
  if (queue === undefined) return { EVENT_BUS: 'eventbridge', EVENT_BUS_NAME: events.busName };
  iam.Grant.addToPrincipal({
    grantee: role,
    actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility'],
    resourceArns: [queue.queueArn],
  });
  iam.Grant.addToPrincipal({
    grantee: role,
    actions: ['kms:Decrypt'],
    resourceArns: [queue.keyArn],
    conditions: { StringEquals: { 'kms:ViaService': `sqs.${Stack.of(scope).region}.amazonaws.com` } },
  });
  return {
    EVENT_BUS: 'eventbridge',
    EVENT_BUS_NAME: events.busName,
    EVENT_QUEUE_URL: queue.queueUrl,
    EVENT_MAX_RECEIVES: String(queue.maxReceiveCount),
  };
}
