import { Match } from 'aws-cdk-lib/assertions';
import { resourcesOf, synthStage } from '../support/synth';

describe('ShopNetwork', () => {
  // GIVEN: both stages, synthesised once for the file
  const stage1k = synthStage('1k', { nag: false });
  const stage10k = synthStage('10k', { nag: false });

  test('spans the 3 pinned availability zones with public, private-with-egress and isolated subnets', () => {
    // WHEN
    const subnets = Object.values(resourcesOf(stage1k.json.network, 'AWS::EC2::Subnet'));
    // THEN
    expect(subnets).toHaveLength(9);
    const zones = new Set(subnets.map((subnet) => subnet.Properties?.AvailabilityZone));
    expect([...zones].sort()).toEqual(['us-east-1a', 'us-east-1b', 'us-east-1c']);
    const types = subnets.map(
      (subnet) =>
        ((subnet.Properties?.Tags as { Key: string; Value: string }[]) ?? []).find(
          (tag) => tag.Key === 'aws-cdk:subnet-type',
        )?.Value,
    );
    expect(types.filter((type) => type === 'Public')).toHaveLength(3);
    expect(types.filter((type) => type === 'Private')).toHaveLength(3);
    expect(types.filter((type) => type === 'Isolated')).toHaveLength(3);
  });

  test('takes the NAT gateway count from the stage (1 at 1k, 3 at 10k)', () => {
    stage1k.templates.network.resourceCountIs('AWS::EC2::NatGateway', 1);
    stage10k.templates.network.resourceCountIs('AWS::EC2::NatGateway', 3);
  });

  test('sends all flow logs to a KMS-encrypted log group with retention', () => {
    // THEN
    stage1k.templates.network.hasResourceProperties('AWS::EC2::FlowLog', {
      ResourceType: 'VPC',
      TrafficType: 'ALL',
      LogDestinationType: 'cloud-watch-logs',
    });
    stage1k.templates.network.hasResource('AWS::Logs::LogGroup', {
      Properties: {
        RetentionInDays: 365,
        KmsKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^LogsKey'), 'Arn'] },
      },
      DeletionPolicy: 'Retain',
    });
    stage1k.templates.network.hasResource('AWS::KMS::Key', {
      Properties: { EnableKeyRotation: true },
      DeletionPolicy: 'Retain',
    });
  });

  test('has an S3 gateway endpoint', () => {
    stage1k.templates.network.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      VpcEndpointType: 'Gateway',
      ServiceName: Match.objectLike({ 'Fn::Join': Match.arrayWith([Match.arrayWith(['.s3'])]) }),
    });
  });

  test('is termination-protected and named after the prefix', () => {
    const stack = stage1k.stacks.network;
    expect(stack.terminationProtection).toBe(true);
    expect(stack.stackName).toBe('shop-network');
    expect(stack.availabilityZones).toEqual(['us-east-1a', 'us-east-1b', 'us-east-1c']);
  });
});
