import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as rds from 'aws-cdk-lib/aws-rds';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { ProxyConfig } from '../config/stage-config';
import { PROXY_DEFAULTS } from '../config/defaults';
import type { AuroraDatabase } from './aurora-database';

/** Properties of {@link AuroraProxy}. */
export interface AuroraProxyProps {
  /** The stage's proxy section. */
  readonly config: ProxyConfig;
  /** The database the proxy pools connections to (its master secret is admitted: migrations log in with it). */
  readonly database: AuroraDatabase;
  /**
   * The app's own login, admitted next to the master's.
   *
   * @default - the proxy admits the master secret only
   */
  readonly appSecret?: secretsmanager.ISecret;
  /** VPC of the database. */
  readonly vpc: ec2.IVpc;
  /**
   * A client admitted from inside this stack. Clients in other stacks admit themselves on
   * {@link AuroraProxy.securityGroup}.
   *
   * @default - none
   */
  readonly clientSecurityGroup?: ec2.ISecurityGroup;
  /** Name of the read-only endpoint (unique per account and region). */
  readonly readOnlyEndpointName: string;
}

/**
 * RDS Proxy in front of an Aurora cluster: pools the app's connections, requires TLS (its certificate is
 * issued by ACM, so clients can verify it with the system CAs), and reads the secrets of the users it admits
 * itself: the master (migrations) and the app's login, one auth entry each, with IAM authentication off.
 * When the cluster has readers, a read-only endpoint spreads reads over them.
 */
export class AuroraProxy extends Construct {
  /** The proxy. */
  public readonly proxy: rds.DatabaseProxy;
  /** The proxy's security group (also used by the read-only endpoint). */
  public readonly securityGroup: ec2.SecurityGroup;
  /** Read-only endpoint, present when the cluster has readers. */
  public readonly readOnlyEndpoint?: rds.CfnDBProxyEndpoint;
  /** Host of the read/write endpoint. */
  public readonly writerHost: string;
  /** Host of the read-only endpoint, when there is one. */
  public readonly readerHost?: string;

  constructor(scope: Construct, id: string, props: AuroraProxyProps) {
    super(scope, id);
    const { cluster } = props.database;
    const port = ec2.Port.tcp(5432);

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'RDS Proxy: admits the app tasks, connects to the Aurora cluster only',
      allowAllOutbound: false,
    });
    if (props.clientSecurityGroup !== undefined) {
      this.securityGroup.connections.allowFrom(
        props.clientSecurityGroup,
        port,
        'PostgreSQL from the app tasks',
      );
    }

    this.proxy = new rds.DatabaseProxy(this, 'Resource', {
      proxyTarget: rds.ProxyTarget.fromCluster(cluster),
      // The master's entry stays first: adding the app's is an in-place update of this fixed-name proxy.
      secrets: [props.database.secret, ...(props.appSecret !== undefined ? [props.appSecret] : [])],
      vpc: props.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      securityGroups: [this.securityGroup],
      requireTLS: true,
      iamAuth: false,
      maxConnectionsPercent: props.config.maxConnectionsPercent ?? PROXY_DEFAULTS.maxConnectionsPercent,
      idleClientTimeout: props.config.idleClientTimeout ?? PROXY_DEFAULTS.idleClientTimeout,
      borrowTimeout: props.config.borrowTimeout ?? PROXY_DEFAULTS.borrowTimeout,
      debugLogging: false,
    });
    // ProxyTarget.fromCluster has already admitted this group on the cluster and allowed it out to it.
    this.writerHost = this.proxy.endpoint;

    if (props.database.readerCount > 0) {
      this.readOnlyEndpoint = new rds.CfnDBProxyEndpoint(this, 'ReadOnlyEndpoint', {
        dbProxyName: this.proxy.dbProxyName,
        dbProxyEndpointName: props.readOnlyEndpointName,
        vpcSubnetIds: props.vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_ISOLATED }).subnetIds,
        vpcSecurityGroupIds: [this.securityGroup.securityGroupId],
        targetRole: 'READ_ONLY',
      });
      this.readerHost = this.readOnlyEndpoint.attrEndpoint;
    }
  }
}
