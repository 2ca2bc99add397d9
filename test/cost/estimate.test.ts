/**
 * The cost estimate on small hand-written templates: a hand-checked total, and every way a price can be
 * missing fails with a message that names it (never a silent zero).
 */
import type { AssemblyTemplates } from '../../tools/upgrade/assembly';
import {
  estimateCost,
  MissingPriceError,
  serviceTaskCount,
  type TemplateResource,
} from '../../tools/cost/estimate';
import { USAGE_BY_STAGE, usageFor, type UsageAssumptions } from '../../tools/cost/usage';

const noUsage: UsageAssumptions = {
  requestsMillions: 0,
  albLcu: 0,
  natDataGb: 0,
  auroraStorageGb: 0,
  auroraIoMillions: 0,
  logsGbPerGroup: 0,
  flowLogsGb: 0,
  containerInsightsGbPerTask: 0,
  accessLogsGbPerBucket: 0,
  cdnGb: 0,
  queueRequestsMillions: 0,
  eventsMillions: 0,
  replicatedWriteIoMillions: 0,
  interRegionGb: 0,
  dnsQueriesMillions: 0,
};
const usage: UsageAssumptions = { ...noUsage, auroraStorageGb: 10, auroraIoMillions: 5, natDataGb: 100 };

function assembly(resources: Record<string, TemplateResource>): AssemblyTemplates {
  return {
    stacks: [
      {
        key: 'a/us-east-1/small',
        stackName: 'small',
        artifactId: 'Small',
        template: { Resources: resources },
      },
    ],
  };
}

/** One Aurora writer, one NAT gateway with its address, a key, two small ARM tasks and a free security group. */
const small: Record<string, TemplateResource> = {
  Cluster: { Type: 'AWS::RDS::DBCluster', Properties: { Engine: 'aurora-postgresql' } },
  Writer: {
    Type: 'AWS::RDS::DBInstance',
    Properties: {
      Engine: 'aurora-postgresql',
      DBInstanceClass: 'db.t4g.medium',
      DBClusterIdentifier: { Ref: 'Cluster' },
    },
  },
  Nat: {
    Type: 'AWS::EC2::NatGateway',
    Properties: { AllocationId: { 'Fn::GetAtt': ['Eip', 'AllocationId'] } },
  },
  Eip: { Type: 'AWS::EC2::EIP', Properties: { Domain: 'vpc' } },
  Key: { Type: 'AWS::KMS::Key', Properties: {} },
  Group: { Type: 'AWS::EC2::SecurityGroup', Properties: {} },
  Task: {
    Type: 'AWS::ECS::TaskDefinition',
    Properties: { Cpu: '512', Memory: '1024', RuntimePlatform: { CpuArchitecture: 'ARM64' } },
  },
  Service: {
    Type: 'AWS::ECS::Service',
    Properties: { LaunchType: 'FARGATE', DesiredCount: 2, TaskDefinition: { Ref: 'Task' } },
  },
};

describe('a hand-checked template', () => {
  test('us-east-1: $126.13 a month', () => {
    // GIVEN / WHEN
    const estimate = estimateCost(assembly(small), { region: 'us-east-1', usage, tasks: 'min' });

    // THEN, by hand, 730 hours a month:
    //   db.t4g.medium   730 × 0.073                          = 53.29
    //   cluster         10 GB × 0.10 + 5 M I/O × 0.20         =  2.00
    //   NAT gateway     730 × 0.045 + 100 GB × 0.045          = 37.35
    //   Elastic IP      730 × 0.005                          =  3.65
    //   KMS key                                              =  1.00
    //   Fargate ARM     2 × 730 × (0.5 × 0.03238 + 1 × 0.00356) = 28.835
    //   total                                                = 126.125
    expect(estimate.totalUsd).toBeCloseTo(126.125, 6);
    expect(estimate.assumedUsd).toBeCloseTo(2 + 4.5, 6);
    expect(
      Object.fromEntries(estimate.rows.map((row) => [row.type, Number(row.monthlyUsd.toFixed(4))])),
    ).toEqual({
      'AWS::RDS::DBInstance': 53.29,
      'AWS::RDS::DBCluster': 2,
      'AWS::EC2::NatGateway': 37.35,
      'AWS::EC2::EIP': 3.65,
      'AWS::KMS::Key': 1,
      'AWS::ECS::Service': 28.835,
    });
    expect(estimate.free.map((row) => row.type)).toEqual([
      'AWS::EC2::SecurityGroup',
      'AWS::ECS::TaskDefinition',
    ]);
  });

  test('eu-west-1: $133.93 a month', () => {
    //   58.40 + (1.10 + 1.10) + (35.04 + 4.80) + 3.65 + 1.00 + 28.835 = 133.925
    const estimate = estimateCost(assembly(small), { region: 'eu-west-1', usage, tasks: 'min' });
    expect(estimate.totalUsd).toBeCloseTo(133.925, 6);
  });
});

describe('usage-dependent and derived prices', () => {
  test('RDS Proxy is priced per vCPU of every instance of its target cluster', () => {
    // GIVEN a proxy over a cluster of a 2-vCPU and a 4-vCPU instance
    const resources: Record<string, TemplateResource> = {
      Cluster: { Type: 'AWS::RDS::DBCluster', Properties: {} },
      Writer: {
        Type: 'AWS::RDS::DBInstance',
        Properties: {
          Engine: 'aurora-postgresql',
          DBInstanceClass: 'db.t4g.medium',
          DBClusterIdentifier: { Ref: 'Cluster' },
        },
      },
      Reader: {
        Type: 'AWS::RDS::DBInstance',
        Properties: {
          Engine: 'aurora-postgresql',
          DBInstanceClass: 'db.r7g.xlarge',
          DBClusterIdentifier: { Ref: 'Cluster' },
        },
      },
      Proxy: { Type: 'AWS::RDS::DBProxy', Properties: {} },
      Targets: {
        Type: 'AWS::RDS::DBProxyTargetGroup',
        Properties: { DBProxyName: { Ref: 'Proxy' }, DBClusterIdentifiers: [{ Ref: 'Cluster' }] },
      },
    };

    // WHEN
    const estimate = estimateCost(assembly(resources), { region: 'us-east-1', usage: noUsage, tasks: 'min' });

    // THEN 6 vCPU × 730 h × $0.015
    const proxy = estimate.rows.find((row) => row.type === 'AWS::RDS::DBProxy');
    expect(proxy?.monthlyUsd).toBeCloseTo(65.7, 6);
    expect(proxy?.bases).toEqual(['RDS Proxy over 2 instance(s), 6 vCPU: 6 × 730 h × $0.0150']);
  });

  test('a service with autoscaling is priced at its minimum or maximum task count', () => {
    const resources: Record<string, TemplateResource> = {
      ...small,
      Service: {
        Type: 'AWS::ECS::Service',
        Properties: { LaunchType: 'FARGATE', TaskDefinition: { Ref: 'Task' } },
      },
      Scaling: {
        Type: 'AWS::ApplicationAutoScaling::ScalableTarget',
        Properties: {
          MinCapacity: 3,
          MaxCapacity: 12,
          ScalableDimension: 'ecs:service:DesiredCount',
          ResourceId: {
            'Fn::Join': ['', ['service/', { Ref: 'C' }, '/', { 'Fn::GetAtt': ['Service', 'Name'] }]],
          },
        },
      },
    };
    const stack = assembly(resources).stacks[0]!;
    expect(serviceTaskCount('Service', resources.Service!, stack, 'min')).toBe(3);
    expect(serviceTaskCount('Service', resources.Service!, stack, 'max')).toBe(12);
    const at = (tasks: 'min' | 'max') =>
      estimateCost(assembly(resources), { region: 'us-east-1', usage: noUsage, tasks }).rows.find(
        (row) => row.type === 'AWS::ECS::Service',
      )?.monthlyUsd;
    expect(at('min')).toBeCloseTo(3 * 730 * 0.01975, 6);
    expect(at('max')).toBeCloseTo(12 * 730 * 0.01975, 6);
  });

  test('SQS requests go to the working queue; its dead-letter queue has no charge as configured', () => {
    const resources: Record<string, TemplateResource> = {
      Dlq: { Type: 'AWS::SQS::Queue', Properties: { MessageRetentionPeriod: 1209600 } },
      Queue: {
        Type: 'AWS::SQS::Queue',
        Properties: {
          RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': ['Dlq', 'Arn'] }, maxReceiveCount: 5 },
        },
      },
    };
    const estimate = estimateCost(assembly(resources), {
      region: 'us-east-1',
      usage: { ...noUsage, queueRequestsMillions: 30 },
      tasks: 'min',
    });
    expect(estimate.rows).toEqual([
      expect.objectContaining({
        type: 'AWS::SQS::Queue',
        count: 1,
        bases: ['requests: 30 million × $0.4 (assumed)'],
      }),
    ]);
    expect(estimate.totalUsd).toBeCloseTo(30 * 0.4, 6);
    expect(estimate.free).toEqual([{ type: 'AWS::SQS::Queue', count: 1, reason: 'no charge as configured' }]);
  });
});

describe('a missing price fails, naming what is missing', () => {
  test.each([
    [
      'an unknown resource type',
      { Thing: { Type: 'AWS::Foo::Bar', Properties: {} } },
      /No price for resource type AWS::Foo::Bar in us-east-1\. Fix: add it/,
    ],
    [
      'an instance class without a price',
      {
        Db: {
          Type: 'AWS::RDS::DBInstance',
          Properties: { Engine: 'aurora-postgresql', DBInstanceClass: 'db.x2g.large' },
        },
      },
      /No price for Aurora PostgreSQL db\.x2g\.large in us-east-1/,
    ],
    [
      'a cache node type without a price',
      {
        Cache: {
          Type: 'AWS::ElastiCache::ReplicationGroup',
          Properties: { CacheNodeType: 'cache.c1.medium', NumCacheClusters: 2 },
        },
      },
      /No price for ElastiCache cache\.c1\.medium in us-east-1/,
    ],
    [
      'an engine that is not Aurora PostgreSQL',
      {
        Db: {
          Type: 'AWS::RDS::DBInstance',
          Properties: { Engine: 'mysql', DBInstanceClass: 'db.t4g.medium' },
        },
      },
      /No price for RDS engine mysql \(db\.t4g\.medium\) in us-east-1/,
    ],
  ])('%s', (_name, resources, message) => {
    const run = () =>
      estimateCost(assembly(resources), { region: 'us-east-1', usage: noUsage, tasks: 'min' });
    expect(run).toThrow(MissingPriceError);
    expect(run).toThrow(message);
  });

  test('a region without a price table', () => {
    expect(() => estimateCost(assembly(small), { region: 'ap-south-2', usage, tasks: 'min' })).toThrow(
      /No price table for region "ap-south-2"\. Priced regions: us-east-1, eu-west-1\./,
    );
  });

  test('a stage without usage assumptions', () => {
    expect(() => usageFor('5k')).toThrow(
      /No usage assumptions for stage "5k"\. Fix: add an entry to USAGE_BY_STAGE/,
    );
    expect(Object.keys(USAGE_BY_STAGE)).toEqual(['1k', '10k', '100k', '1m', 'global']);
  });
});
