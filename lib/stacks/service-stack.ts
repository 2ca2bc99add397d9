import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import type { StageConfig } from '../config/stage-config';
import { AccessLogsBucket } from '../constructs/access-logs-bucket';
import { ShopService, type HttpsConfig } from '../constructs/shop-service';
import { StageMonitoring } from '../constructs/stage-monitoring';
import type { DataStack } from './data-stack';

/** Properties of {@link ServiceStack}. */
export interface ServiceStackProps extends StackProps {
  /** The stage. */
  readonly config: StageConfig;
  /** The VPC. */
  readonly vpc: ec2.IVpc;
  /** Security group of the tasks. */
  readonly appSecurityGroup: ec2.ISecurityGroup;
  /** Key encrypting the container logs. */
  readonly logsKey: kms.IKey;
  /** The data stack: database, proxy, cache and secrets the app is wired to. */
  readonly data: DataStack;
  /** Prefix of physical names (dashboard, alarms). */
  readonly prefix: string;
  /** HTTPS settings. @default - HTTP only, with a synth warning */
  readonly https?: HttpsConfig;
  /** Email subscribed to the alarm topic. @default - no subscription */
  readonly alarmEmail?: string;
  /** The app's `ADMIN_EMAILS`. @default - no admins by email */
  readonly adminEmails?: string;
}

/**
 * The stateless part of a stage: the app on Fargate behind the load balancer, its access logs, and the
 * stage's dashboard and alarms (one per stage, in the stack that owns the service).
 */
export class ServiceStack extends Stack {
  /** The app service. */
  public readonly shop: ShopService;
  /** Dashboard and alarms. */
  public readonly monitoring: StageMonitoring;

  constructor(scope: Construct, id: string, props: ServiceStackProps) {
    super(scope, id, props);
    const { config, data } = props;
    const { database, proxy, cache } = data;
    // Secrets and their key are referenced by ARN: granting on the data stack's own objects would write
    // this stack's roles into the data stack's key policy, and the two stacks would depend on each other.
    const dataKey = kms.Key.fromKeyArn(this, 'DataKey', data.dataKey.keyArn);
    const importSecret = (id: string, secret: secretsmanager.ISecret) =>
      secretsmanager.Secret.fromSecretAttributes(this, id, {
        secretCompleteArn: secret.secretArn,
        encryptionKey: dataKey,
      });
    const secret = importSecret('DatabaseSecret', database.secret);

    // Endpoints: through the proxy when there is one, otherwise straight to the cluster. Both are verified
    // (DB_SSL=verify-full): the app trusts Node's CAs (the proxy's ACM certificate) plus the RDS CA bundle it
    // ships (Aurora's own certificate).
    const readerHost =
      proxy !== undefined
        ? proxy.readerHost
        : database.readerCount > 0
          ? database.cluster.clusterReadEndpoint.hostname
          : undefined;
    const environment: Record<string, string> = {
      DB_HOST: proxy !== undefined ? proxy.writerHost : database.cluster.clusterEndpoint.hostname,
      DB_PORT: '5432',
      DB_NAME: database.databaseName,
      DB_SSL: 'verify-full',
      // The app reads user and password from the secret when it opens a connection, and again when the
      // database rejects them: the secret rotates, and values injected at task start would go stale.
      DB_SECRET_ARN: secret.secretArn,
      ...(readerHost !== undefined ? { DB_READER_HOST: readerHost } : {}),
      ...(cache !== undefined
        ? {
            REDIS_HOST: cache.host,
            REDIS_PORT: String(cache.port),
            REDIS_TLS: 'true',
            CACHE_STORE: 'redis',
            SESSION_STORE: 'redis',
          }
        : { CACHE_STORE: 'memory', SESSION_STORE: 'memory' }),
      ...(props.adminEmails !== undefined ? { ADMIN_EMAILS: props.adminEmails } : {}),
    };
    const secrets: Record<string, ecs.Secret> = {
      SESSION_SECRET: ecs.Secret.fromSecretsManager(importSecret('SessionSecret', data.sessionSecret)),
      ...(cache !== undefined
        ? { REDIS_AUTH_TOKEN: ecs.Secret.fromSecretsManager(importSecret('CacheAuthToken', cache.authToken)) }
        : {}),
    };

    // The tasks' group lives in the network stack; imported here, the load balancer's ingress rule on it is
    // created in this stack (a rule inside the network stack would make it depend on this one: a cycle).
    const appSecurityGroup = ec2.SecurityGroup.fromSecurityGroupId(
      this,
      'AppSecurityGroup',
      props.appSecurityGroup.securityGroupId,
      { allowAllOutbound: true },
    );
    const accessLogs = new AccessLogsBucket(this, 'AccessLogs');
    this.shop = new ShopService(this, 'Shop', {
      config: config.service,
      vpc: props.vpc,
      securityGroup: appSecurityGroup,
      logEncryptionKey: props.logsKey,
      accessLogsBucket: accessLogs.bucket,
      environment,
      secrets,
      secretsKey: dataKey,
      ...(props.https !== undefined ? { https: props.https } : {}),
    });
    // The app reads this one secret. The grant's decrypt half adds nothing for an imported key (it can write
    // neither the key policy nor, through a ViaService principal, the role's), so decrypt is granted here:
    // with the data key, and only when Secrets Manager asks on the task's behalf.
    const taskRole = this.shop.taskDefinition.taskRole;
    secret.grantRead(taskRole);
    iam.Grant.addToPrincipal({
      grantee: taskRole,
      actions: ['kms:Decrypt'],
      resourceArns: [dataKey.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${this.region}.amazonaws.com` } },
    });

    this.monitoring = new StageMonitoring(this, 'Monitoring', {
      config: config.monitoring,
      ...(props.alarmEmail !== undefined ? { alarmEmail: props.alarmEmail } : {}),
      loadBalancer: this.shop.loadBalancer,
      targetGroup: this.shop.targetGroup,
      service: this.shop.service,
      cluster: database.cluster,
      readerInstanceCount: database.readerCount,
      ...(proxy !== undefined ? { proxy: proxy.proxy } : {}),
      ...(cache !== undefined
        ? { cacheReplicationGroupId: cache.replicationGroupId, cacheNodeCount: cache.nodeCount }
        : {}),
      dashboardName: props.prefix,
    });

    new CfnOutput(this, 'Url', { value: this.shop.url, description: 'URL of the shop' });
    new CfnOutput(this, 'LoadBalancerDnsName', {
      value: this.shop.loadBalancer.loadBalancerDnsName,
      description: 'Point the domain (CNAME or alias record) at this name',
    });
  }
}
