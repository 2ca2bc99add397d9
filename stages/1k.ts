/**
 * Stage `1k`: start simple. One Fargate task behind an ALB, one Aurora PostgreSQL writer, dashboard
 * and alarms from day one. Only what differs from the defaults (`lib/config/defaults.ts`) is written here.
 */
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { StageConfig } from '../lib/config';

/** Stage `1k`: up to about 1,000 users. */
export const stage1k = {
  description: 'Start simple: one task behind an ALB, one Aurora writer, monitoring from day one',
  network: {
    // One NAT gateway keeps the bill small, at a price: the tasks reach ECR, Secrets Manager and CloudWatch Logs
    // through it (only S3 has a gateway endpoint). If its AZ fails, every private subnet loses outbound traffic:
    // no task can start in any AZ (no image pull, no secrets fetch at start), so ECS cannot replace the lost
    // task until the AZ is back, and a running task cannot read the database secret for a new connection.
    // Stage 10k has a NAT gateway per AZ.
    natGateways: 1,
  },
  service: {
    cpu: 512,
    memoryLimitMiB: 1024,
    desiredCount: 1,
  },
  database: {
    writer: { instanceType: ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.MEDIUM) },
  },
} satisfies StageConfig;
