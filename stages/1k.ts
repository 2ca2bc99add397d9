/**
 * Stage `1k`: start simple. One Fargate task behind an ALB, one Aurora PostgreSQL writer, dashboard
 * and alarms from day one.
 */
import { Duration } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { DEFAULT_MONITORING_CONFIG } from '../lib/config/defaults';
import type { StageConfig } from '../lib/config';

/** Stage `1k`: up to about 1,000 users. */
export const stage1k = {
  description: 'Start simple: one task behind an ALB, one Aurora writer, monitoring from day one',
  network: {
    maxAzs: 3,
    // One NAT gateway keeps the bill small; an AZ outage then costs outbound traffic only.
    natGateways: 1,
    flowLogRetention: logs.RetentionDays.ONE_YEAR,
  },
  service: {
    cpu: 512,
    memoryLimitMiB: 1024,
    desiredCount: 1,
    cpuArchitecture: 'ARM64',
    logRetention: logs.RetentionDays.ONE_MONTH,
  },
  database: {
    writer: { instanceType: ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.MEDIUM) },
    backupRetention: Duration.days(7),
    logRetention: logs.RetentionDays.ONE_MONTH,
    databaseName: 'shop',
  },
  monitoring: DEFAULT_MONITORING_CONFIG,
} satisfies StageConfig;
