/**
 * The generated architecture diagram and inventory on a hand-written template: one node per resource
 * group, supporting resources folded in, edges from security-group rules.
 */
import type { AssemblyTemplates } from '../../tools/upgrade/assembly';
import { buildArchitecture, renderMermaid } from '../../tools/docs/architecture';
import { dataBearingTable, inventoryTable } from '../../tools/docs/generate';
import { tierOf } from '../../tools/docs/tiers';

const path = (p: string) => ({ Metadata: { 'aws:cdk:path': `Shop/${p}` } });
const getAtt = (id: string, attribute = 'GroupId') => ({ 'Fn::GetAtt': [id, attribute] });

const resources: Record<string, { Type: string; Properties?: Record<string, unknown>; Metadata?: unknown }> =
  {
    Vpc: { Type: 'AWS::EC2::VPC', Properties: { CidrBlock: '10.0.0.0/16' }, ...path('Network/Vpc/Resource') },
    SubnetA: {
      Type: 'AWS::EC2::Subnet',
      Properties: { VpcId: { Ref: 'Vpc' }, AvailabilityZone: 'us-east-1a' },
      ...path('Network/Vpc/A/Subnet'),
    },
    SubnetB: {
      Type: 'AWS::EC2::Subnet',
      Properties: { VpcId: { Ref: 'Vpc' }, AvailabilityZone: 'us-east-1b' },
      ...path('Network/Vpc/B/Subnet'),
    },
    Nat: { Type: 'AWS::EC2::NatGateway', Properties: {}, ...path('Network/Vpc/A/NATGateway') },
    LbSg: {
      Type: 'AWS::EC2::SecurityGroup',
      Properties: {
        GroupDescription: 'lb',
        SecurityGroupIngress: [{ CidrIp: '0.0.0.0/0', IpProtocol: 'tcp', FromPort: 443, ToPort: 443 }],
      },
      ...path('Web/Lb/SecurityGroup/Resource'),
    },
    Lb: {
      Type: 'AWS::ElasticLoadBalancingV2::LoadBalancer',
      Properties: { Scheme: 'internet-facing', SecurityGroups: [getAtt('LbSg')] },
      ...path('Web/Lb/Resource'),
    },
    Listener: {
      Type: 'AWS::ElasticLoadBalancingV2::Listener',
      Properties: { LoadBalancerArn: { Ref: 'Lb' }, Protocol: 'HTTPS', Port: 443 },
      ...path('Web/Lb/Https/Resource'),
    },
    TaskDef: {
      Type: 'AWS::ECS::TaskDefinition',
      Properties: { Cpu: '512', Memory: '1024' },
      ...path('Web/TaskDefinition/Resource'),
    },
    ServiceSg: {
      Type: 'AWS::EC2::SecurityGroup',
      Properties: { GroupDescription: 'svc' },
      ...path('Web/Service/SecurityGroup/Resource'),
    },
    Service: {
      Type: 'AWS::ECS::Service',
      Properties: {
        LaunchType: 'FARGATE',
        TaskDefinition: { Ref: 'TaskDef' },
        NetworkConfiguration: { AwsvpcConfiguration: { SecurityGroups: [getAtt('ServiceSg')] } },
      },
      ...path('Web/Service'),
    },
    Scaling: {
      Type: 'AWS::ApplicationAutoScaling::ScalableTarget',
      Properties: {
        MinCapacity: 3,
        MaxCapacity: 12,
        ResourceId: { 'Fn::Join': ['', ['service/', getAtt('Service', 'Name')]] },
      },
      ...path('Web/Service/TaskCount/Target/Resource'),
    },
    LbToService: {
      Type: 'AWS::EC2::SecurityGroupIngress',
      Properties: {
        GroupId: getAtt('ServiceSg'),
        SourceSecurityGroupId: getAtt('LbSg'),
        IpProtocol: 'tcp',
        FromPort: 3000,
        ToPort: 3000,
      },
      ...path('Web/Service/SecurityGroup/from LbSg:3000'),
    },
    DbSg: {
      Type: 'AWS::EC2::SecurityGroup',
      Properties: { GroupDescription: 'db' },
      ...path('Data/Database/SecurityGroup/Resource'),
    },
    Db: {
      Type: 'AWS::RDS::DBCluster',
      Properties: {
        Engine: 'aurora-postgresql',
        EngineVersion: '16.4',
        VpcSecurityGroupIds: [getAtt('DbSg')],
      },
      ...path('Data/Database/Resource'),
    },
    Writer: {
      Type: 'AWS::RDS::DBInstance',
      Properties: { DBClusterIdentifier: { Ref: 'Db' }, DBInstanceClass: 'db.t4g.medium' },
      ...path('Data/Database/Writer/Resource'),
    },
    Reader1: {
      Type: 'AWS::RDS::DBInstance',
      Properties: { DBClusterIdentifier: { Ref: 'Db' }, DBInstanceClass: 'db.t4g.medium' },
      ...path('Data/Database/Reader1/Resource'),
    },
    ServiceToDb: {
      Type: 'AWS::EC2::SecurityGroupIngress',
      Properties: {
        GroupId: getAtt('DbSg'),
        SourceSecurityGroupId: getAtt('ServiceSg'),
        IpProtocol: 'tcp',
        FromPort: 5432,
        ToPort: 5432,
      },
      ...path('Data/Database/SecurityGroup/from ServiceSg:5432'),
    },
    ServiceToDbPort: {
      Type: 'AWS::EC2::SecurityGroupIngress',
      Properties: {
        GroupId: getAtt('DbSg'),
        SourceSecurityGroupId: getAtt('ServiceSg'),
        IpProtocol: 'tcp',
        FromPort: getAtt('Db', 'Endpoint.Port'),
        ToPort: getAtt('Db', 'Endpoint.Port'),
      },
      ...path('Data/Database/SecurityGroup/from ServiceSg:port'),
    },
    TaskPolicy: {
      Type: 'AWS::IAM::Policy',
      Properties: { PolicyDocument: {} },
      ...path('Web/TaskRole/DefaultPolicy/Resource'),
    },
    Key: { Type: 'AWS::KMS::Key', Properties: {}, ...path('Data/Key/Resource') },
    Logs: { Type: 'AWS::Logs::LogGroup', Properties: { RetentionInDays: 30 }, ...path('Web/Logs/Resource') },
    AlarmA: { Type: 'AWS::CloudWatch::Alarm', Properties: {}, ...path('Monitoring/A/Resource') },
    AlarmB: { Type: 'AWS::CloudWatch::Alarm', Properties: {}, ...path('Monitoring/B/Resource') },
    Dashboard: {
      Type: 'AWS::CloudWatch::Dashboard',
      Properties: {},
      ...path('Monitoring/Dashboard/Resource'),
    },
  };
const templates: AssemblyTemplates = {
  stacks: [
    { key: '1/us-east-1/Shop', stackName: 'Shop', artifactId: 'Shop', template: { Resources: resources } },
  ],
};

describe('buildArchitecture', () => {
  const graph = buildArchitecture(templates);
  const byTitle = (title: string) => graph.nodes.find((node) => node.title === title);

  test('one node per resource group, grouped by tier; IAM, rules and subnets are not nodes', () => {
    expect(graph.nodes.map((node) => [node.tier, node.title])).toEqual([
      ['edge', 'Internet'],
      ['edge', 'Network/Vpc'],
      ['edge', 'Web/Lb'],
      ['compute', 'Web/Service'],
      ['data', 'Data/Database'],
      ['monitoring', 'CloudWatch alarms'],
      ['monitoring', 'KMS keys'],
      ['monitoring', 'Log groups'],
      ['monitoring', 'Monitoring/Dashboard'],
    ]);
  });

  test('nodes say what they are and how big', () => {
    expect(byTitle('Network/Vpc')?.details).toEqual(['VPC', '2 AZs · 2 subnets · 1 NAT gateway']);
    expect(byTitle('Web/Lb')?.details).toEqual([
      'Application Load Balancer (internet-facing)',
      'listeners: HTTPS 443',
    ]);
    expect(byTitle('Web/Service')?.details).toEqual([
      'ECS service (FARGATE)',
      '512 CPU units · 1024 MiB',
      'tasks: 3-12 (autoscaling)',
    ]);
    expect(byTitle('Data/Database')?.details).toEqual([
      'Aurora cluster (aurora-postgresql 16.4)',
      'writer + 1 reader · db.t4g.medium',
    ]);
    expect(byTitle('CloudWatch alarms')?.details).toEqual(['× 2']);
  });

  test('edges follow security-group rules: internet -> load balancer -> service -> database', () => {
    const title = (id: string) => graph.nodes.find((node) => node.id === id)?.title;
    expect(graph.edges.map((edge) => [title(edge.from), title(edge.to), edge.label])).toEqual(
      expect.arrayContaining([
        ['Internet', 'Web/Lb', 'TCP 443'],
        ['Web/Lb', 'Web/Service', 'TCP 3000'],
        ['Web/Service', 'Data/Database', 'TCP 5432, TCP Endpoint.Port'],
      ]),
    );
    expect(graph.edges).toHaveLength(3);
  });

  test('renders as a Mermaid flowchart with one subgraph per tier', () => {
    const mermaid = renderMermaid(graph);
    expect(mermaid.split('\n')[0]).toBe('flowchart LR');
    expect(mermaid).toContain('subgraph tier_data["Data"]');
    expect(mermaid).toContain(
      '["Data/Database<br/>Aurora cluster (aurora-postgresql 16.4)<br/>writer + 1 reader · db.t4g.medium"]',
    );
    expect(mermaid).toMatch(/ -->\|"TCP 5432, TCP Endpoint.Port"\| /);
    expect(mermaid).not.toContain('AWS::IAM');
    expect(renderMermaid(graph)).toBe(mermaid);
  });
});

describe('inventory and data-bearing tables', () => {
  test('count every resource by type, with the tier', () => {
    const table = inventoryTable(templates);
    expect(table.header).toEqual(['Resource type', 'Tier', 'Count']);
    expect(table.rows).toContainEqual(['AWS::RDS::DBInstance', 'Data', '2']);
    expect(table.rows).toContainEqual(['AWS::IAM::Policy', 'Monitoring / security', '1']);
    expect(table.rows[table.rows.length - 1]).toEqual(['Total', '', String(Object.keys(resources).length)]);
  });

  test('list the data-bearing resources with their construct paths', () => {
    expect(dataBearingTable(templates).rows.map((row) => row[1])).toEqual([
      'Data/Database',
      'Data/Database/Reader1',
      'Data/Database/Writer',
      'Data/Key',
      'Web/Logs',
    ]);
  });

  test('tiers by service namespace', () => {
    expect(tierOf('AWS::ElastiCache::ReplicationGroup')).toBe('cache');
    expect(tierOf('AWS::ECS::Service')).toBe('compute');
    expect(tierOf('Custom::VpcRestrictDefaultSG')).toBe('support');
  });
});
