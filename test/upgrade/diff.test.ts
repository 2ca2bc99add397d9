/**
 * The pure core of the upgrade diff on hand-written templates: classification, the data-bearing list and
 * its conditions, stacks that appear or disappear, and the rendered summaries.
 */
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import {
  templatesFromAssembly,
  type AssemblyTemplates,
  type CfnTemplate,
} from '../../tools/upgrade/assembly';
import { dataAnchorTypes, isDataAnchor } from '../../tools/upgrade/data-anchors';
import { dataBearingTypes, isDataBearing } from '../../tools/upgrade/data-bearing';
import { diffAssemblies } from '../../tools/upgrade/diff';
import {
  markdownTable,
  readableCell,
  renderMarkdownSummary,
  renderTextSummary,
  textTable,
  writeStackDiffs,
} from '../../tools/upgrade/report';

function app(stacks: Record<string, CfnTemplate>): AssemblyTemplates {
  return {
    stacks: Object.entries(stacks).map(([stackName, template]) => ({
      key: `123456789012/us-east-1/${stackName}`,
      stackName,
      artifactId: stackName,
      template,
    })),
  };
}

const logGroup = (retention?: number) => ({
  Type: 'AWS::Logs::LogGroup',
  Properties: retention === undefined ? {} : { RetentionInDays: retention },
});
const bucket = { Type: 'AWS::S3::Bucket', Properties: { BucketName: 'assets' }, DeletionPolicy: 'Retain' };
const topic = { Type: 'AWS::SNS::Topic', Properties: {} };

describe('data-bearing list', () => {
  test('names every type the design calls data-bearing, once', () => {
    const types = dataBearingTypes.map((entry) => entry.type);
    expect(new Set(types).size).toBe(types.length);
    expect(types).toEqual(
      expect.arrayContaining([
        'AWS::RDS::DBCluster',
        'AWS::RDS::DBInstance',
        'AWS::RDS::GlobalCluster',
        'AWS::ElastiCache::ReplicationGroup',
        'AWS::ElastiCache::CacheCluster',
        'AWS::DynamoDB::Table',
        'AWS::DynamoDB::GlobalTable',
        'AWS::S3::Bucket',
        'AWS::KMS::Key',
        'AWS::SecretsManager::Secret',
        'AWS::Logs::LogGroup',
      ]),
    );
  });

  test('a log group holds data only when it has a retention', () => {
    expect(isDataBearing(logGroup(30))).toBe(true);
    expect(isDataBearing(logGroup())).toBe(false);
    expect(isDataBearing(topic)).toBe(false);
    expect(isDataBearing(undefined)).toBe(false);
  });
});

describe('diffAssemblies', () => {
  test('removing a log group without retention is safe, with retention it is not', () => {
    const before = app({ Main: { Resources: { Plain: logGroup(), Kept: logGroup(7), Topic: topic } } });

    const dropPlain = diffAssemblies(
      before,
      app({ Main: { Resources: { Kept: logGroup(7), Topic: topic } } }),
    );
    expect(dropPlain.safe).toBe(true);
    expect(dropPlain.changes.map((change) => [change.kind, change.logicalId, change.dataBearing])).toEqual([
      ['removed', 'Plain', false],
    ]);

    const dropKept = diffAssemblies(
      before,
      app({ Main: { Resources: { Plain: logGroup(), Topic: topic } } }),
    );
    expect(dropKept.safe).toBe(false);
    expect(dropKept.dataLoss.map((loss) => loss.change.logicalId)).toEqual(['Kept']);
  });

  test('changing a retention is an in-place update', () => {
    const report = diffAssemblies(
      app({ Main: { Resources: { Logs: logGroup(7) } } }),
      app({ Main: { Resources: { Logs: logGroup(30) } } }),
    );
    expect(report.changes.map((change) => change.kind)).toEqual(['updated']);
    expect(report.dataBearingKept).toBe(1);
    expect(report.safe).toBe(true);
  });

  test('a replacement-forcing property on a bucket is unsafe and names the property', () => {
    const report = diffAssemblies(
      app({ Main: { Resources: { Assets: bucket } } }),
      app({ Main: { Resources: { Assets: { ...bucket, Properties: { BucketName: 'assets-v2' } } } } }),
    );
    expect(report.dataLoss.map((loss) => [loss.change.kind, loss.change.replacingProperties])).toEqual([
      ['will-replace', ['BucketName']],
    ]);
    expect(report.byType).toEqual([
      {
        type: 'AWS::S3::Bucket',
        counts: { added: 0, updated: 0, 'will-replace': 1, 'may-replace': 0, removed: 0 },
      },
    ]);
  });

  test('a weaker deletion policy on a kept data-bearing resource is a warning, not a failure', () => {
    const report = diffAssemblies(
      app({ Main: { Resources: { Assets: bucket } } }),
      app({ Main: { Resources: { Assets: { ...bucket, DeletionPolicy: 'Delete' } } } }),
    );
    expect(report.safe).toBe(true);
    expect(report.changes.map((change) => [change.kind, change.protectionChanges])).toEqual([
      ['updated', ['DeletionPolicy: Retain -> Delete']],
    ]);
    expect(renderTextSummary(report, 'a -> b')).toContain(
      '! protection policy changes: AWS::S3::Bucket Main/Assets: DeletionPolicy: Retain -> Delete',
    );
  });

  test('a changed resource type is a replacement', () => {
    const report = diffAssemblies(
      app({ Main: { Resources: { Table: { Type: 'AWS::DynamoDB::Table', Properties: {} } } } }),
      app({ Main: { Resources: { Table: { Type: 'AWS::DynamoDB::GlobalTable', Properties: {} } } } }),
    );
    expect(report.dataLoss.map((loss) => [loss.change.kind, loss.change.replacingProperties])).toEqual([
      ['will-replace', ['Type']],
    ]);
  });

  test('a new stack is diffed against an empty template; a stack that goes away loses its data', () => {
    const before = app({ Old: { Resources: { Assets: bucket } } });
    const after = app({ New: { Resources: { Assets: bucket, Topic: topic } } });

    const report = diffAssemblies(before, after);

    expect(report.stacks.map((stack) => [stack.stackName, stack.status])).toEqual([
      ['New', 'added'],
      ['Old', 'removed'],
    ]);
    expect(report.totals).toEqual({ added: 2, updated: 0, 'will-replace': 0, 'may-replace': 0, removed: 1 });
    // Moving a bucket to another stack is a removal here (cdk refactor moves it safely).
    expect(report.dataLoss).toHaveLength(1);
    expect(report.dataLoss[0]?.change).toMatchObject({ stackName: 'Old', kind: 'removed', retained: true });
    expect(report.dataLoss[0]?.possibleRenameTo).toMatchObject({ stackName: 'New', logicalId: 'Assets' });
  });

  test('IAM and security-group changes are called out', () => {
    const role = {
      Type: 'AWS::IAM::Role',
      Properties: {
        AssumeRolePolicyDocument: {
          Statement: [
            { Effect: 'Allow', Principal: { Service: 'ecs-tasks.amazonaws.com' }, Action: 'sts:AssumeRole' },
          ],
        },
      },
    };
    const group = { Type: 'AWS::EC2::SecurityGroup', Properties: { GroupDescription: 'db', VpcId: 'vpc-1' } };
    const ingress = {
      Type: 'AWS::EC2::SecurityGroupIngress',
      Properties: {
        GroupId: { 'Fn::GetAtt': ['Db', 'GroupId'] },
        IpProtocol: 'tcp',
        FromPort: 5432,
        ToPort: 5432,
        CidrIp: '10.0.0.0/16',
      },
    };

    const report = diffAssemblies(
      app({ Main: { Resources: { Db: group } } }),
      app({ Main: { Resources: { Db: group, Role: role, DbIngress: ingress } } }),
    );

    expect(report.iam).toMatchObject({
      statementsAdded: 1,
      statementsRemoved: 0,
      permissionsBroadened: true,
    });
    expect(report.securityGroups).toMatchObject({ ingressAdded: 1, ingressRemoved: 0 });
    expect(report.securityGroups.ruleRows).toEqual([
      ['+', 'ingress', '${Db.GroupId}', 'TCP 5432', '10.0.0.0/16'],
    ]);
    const text = renderTextSummary(report, 'a -> b');
    expect(text).toContain('IAM: 1 statement(s) added, 0 removed');
    expect(text).toContain('Security groups: 1 ingress rule(s) added, 0 removed');
    expect(text).toContain('IAM resources: AWS::IAM::Role 1 added');
    expect(text).toContain('security-group resources: AWS::EC2::SecurityGroupIngress 1 added');
  });
});

describe('data anchors', () => {
  const vpc = { Type: 'AWS::EC2::VPC', Properties: { CidrBlock: '10.0.0.0/16' } };
  const group = (description: string) => ({
    Type: 'AWS::EC2::SecurityGroup',
    Properties: { GroupDescription: description, VpcId: { Ref: 'Vpc' } },
  });
  const cluster = {
    Type: 'AWS::RDS::DBCluster',
    Properties: { Engine: 'aurora-postgresql', VpcSecurityGroupIds: [{ 'Fn::GetAtt': ['DbSg', 'GroupId'] }] },
  };

  test('the list: one entry per type, each with a one-line reason, none of them data-bearing types', () => {
    const types = dataAnchorTypes.map((entry) => entry.type);
    expect(new Set(types).size).toBe(types.length);
    expect(types).toEqual(
      expect.arrayContaining([
        'AWS::EC2::VPC',
        'AWS::EC2::Subnet',
        'AWS::RDS::DBSubnetGroup',
        'AWS::ElastiCache::SubnetGroup',
        'AWS::EC2::SecurityGroup',
        'AWS::RDS::DBProxy',
        'AWS::RDS::DBProxyEndpoint',
      ]),
    );
    for (const entry of dataAnchorTypes) {
      expect(entry.reason).toMatch(/^[^\n]{20,160}$/);
      expect(dataBearingTypes.map((data) => data.type)).not.toContain(entry.type);
    }
  });

  test('a proxy is an anchor when it has a fixed name', () => {
    expect(isDataAnchor({ Type: 'AWS::RDS::DBProxy', Properties: { DBProxyName: 'shop-proxy' } })).toBe(true);
    expect(isDataAnchor({ Type: 'AWS::RDS::DBProxy', Properties: {} })).toBe(false);
  });

  test('a replaced VPC is unsafe and says why', () => {
    const report = diffAssemblies(
      app({ Net: { Resources: { Vpc: vpc } } }),
      app({ Net: { Resources: { Vpc: { ...vpc, Properties: { CidrBlock: '10.1.0.0/16' } } } } }),
    );
    expect(report.safe).toBe(false);
    expect(report.dataLoss.map((loss) => [loss.category, loss.change.kind, loss.reason])).toEqual([
      [
        'anchor',
        'will-replace',
        'would be replaced because CidrBlock changed; data anchor: the network the data lives in: a new VPC ' +
          'means new subnets, and the database and cache cannot follow them',
      ],
    ]);
    expect(renderTextSummary(report, 'a -> b')).toContain(
      'UNSAFE: 1 data anchor(s) would be replaced or removed.',
    );
  });

  test('a security group is an anchor only when a data resource uses it, also from another stack', () => {
    const renamed = (template: CfnTemplate): CfnTemplate => ({
      Resources: Object.fromEntries(
        Object.entries(template.Resources ?? {}).map(([id, resource]) => [
          id,
          resource.Type === 'AWS::EC2::SecurityGroup'
            ? { ...resource, Properties: { ...(resource.Properties as object), GroupDescription: 'renamed' } }
            : resource,
        ]),
      ),
      ...(template.Outputs ? { Outputs: template.Outputs } : {}),
    });
    // GroupDescription forces replacement of a security group.
    const local: CfnTemplate = {
      Resources: { Vpc: vpc, DbSg: group('db'), AppSg: group('app'), Db: cluster },
    };
    const sameStack = diffAssemblies(app({ Main: local }), app({ Main: renamed(local) }));
    expect(sameStack.dataLoss.map((loss) => loss.change.logicalId)).toEqual(['DbSg']);
    expect(
      sameStack.changes.filter((change) => change.kind === 'will-replace').map((c) => c.logicalId),
    ).toEqual(['AppSg', 'DbSg']);

    const network: CfnTemplate = {
      Resources: { Vpc: vpc, DbSg: group('db') },
      Outputs: { DbSgId: { Value: { 'Fn::GetAtt': ['DbSg', 'GroupId'] } } },
    };
    const data: CfnTemplate = {
      Resources: {
        Db: {
          ...cluster,
          Properties: {
            VpcSecurityGroupIds: [{ 'Fn::GetStackOutput': { StackName: 'Net', OutputName: 'DbSgId' } }],
          },
        },
      },
    };
    const acrossStacks = diffAssemblies(
      app({ Net: network, Data: data }),
      app({ Net: renamed(network), Data: data }),
    );
    expect(
      acrossStacks.dataLoss.map((loss) => [loss.category, loss.change.stackName, loss.change.logicalId]),
    ).toEqual([['anchor', 'Net', 'DbSg']]);
  });
});

describe('outputs read across stacks', () => {
  const topicNamed = (name: string) => ({ Type: 'AWS::SNS::Topic', Properties: { TopicName: name } });
  const producer = (outputs: Record<string, unknown>, topic = topicNamed('events')): CfnTemplate => ({
    Resources: { Topic: topic, Other: topicNamed('other') },
    Outputs: outputs,
  });
  const consumer = (read: unknown): CfnTemplate => ({
    Resources: { Subscriber: { Type: 'AWS::SNS::Subscription', Properties: { TopicArn: read } } },
  });
  const weak = {
    'Fn::GetStackOutput': { StackName: 'Producer', Region: 'us-east-1', OutputName: 'TopicArn' },
  };
  const topicOutput = { TopicArn: { Value: { Ref: 'Topic' } } };

  test('a removed output that a deployed consumer reads is unsafe, with the rollback it breaks', () => {
    const before = app({ Producer: producer(topicOutput), Consumer: consumer(weak) });
    // The consumer of the later stage reads something else: the producer no longer publishes TopicArn.
    const after = app({ Producer: producer({}), Consumer: consumer('arn:aws:sns:us-east-1:123456789012:x') });

    const report = diffAssemblies(before, after);

    expect(report.safe).toBe(false);
    expect(report.dataLoss).toEqual([]);
    expect(report.outputReadsChecked).toBe(1);
    const text = renderTextSummary(report, 'a -> b');
    expect(text).toContain(
      '  ✗ output removed: Producer:TopicArn (${Topic}) is read by deployed stack Consumer (Subscriber); the ' +
        'upgrade removes this output: if the Consumer update fails, its rollback reads an output that no longer ' +
        'exists and the stack is left in UPDATE_ROLLBACK_FAILED',
    );
    expect(text).toContain('UNSAFE: 1 output(s) read by a deployed stack would break.');
    expect(renderMarkdownSummary(report, 'a', 'b')).toContain(
      '| output removed | Producer:TopicArn (${Topic}) |',
    );
  });

  test('an output kept (append-only) is safe even when no consumer of the later stage reads it', () => {
    const before = app({ Producer: producer(topicOutput), Consumer: consumer(weak) });
    const after = app({
      Producer: producer(topicOutput),
      Consumer: consumer('arn:aws:sns:us-east-1:123456789012:x'),
    });
    expect(diffAssemblies(before, after).brokenOutputs).toEqual([]);
  });

  test('an output read only by the later stage is not checked against the earlier one', () => {
    const before = app({ Producer: producer({}), Consumer: consumer('x') });
    const after = app({ Producer: producer(topicOutput), Consumer: consumer(weak) });
    const report = diffAssemblies(before, after);
    expect(report.outputReadsChecked).toBe(0);
    expect(report.safe).toBe(true);
  });

  test('a replaced resource behind a read output is unsafe: the consumer keeps the old value', () => {
    const before = app({ Producer: producer(topicOutput), Consumer: consumer(weak) });
    const after = app({ Producer: producer(topicOutput, topicNamed('events-v2')), Consumer: consumer(weak) });

    const report = diffAssemblies(before, after);

    expect(
      report.brokenOutputs.map((broken) => [broken.problem, broken.replacedResources, broken.reason]),
    ).toEqual([
      [
        'replaced',
        ['Producer/Topic'],
        'Producer/Topic behind it would be replaced: Consumer keeps the old value until its own resources are updated',
      ],
    ]);
  });

  test('a repointed output is unsafe', () => {
    const before = app({ Producer: producer(topicOutput), Consumer: consumer(weak) });
    const after = app({
      Producer: producer({ TopicArn: { Value: { Ref: 'Other' } } }),
      Consumer: consumer(weak),
    });
    expect(
      diffAssemblies(before, after).brokenOutputs.map((broken) => [broken.problem, broken.reason]),
    ).toEqual([
      [
        'repointed',
        'now points at ${Other} instead of ${Topic}: Consumer keeps the old value until its own resources are updated',
      ],
    ]);
  });

  test('a removed export that a consumer imports is unsafe: CloudFormation refuses the producer update', () => {
    const exported = { TopicArn: { Value: { Ref: 'Topic' }, Export: { Name: 'Producer:TopicArn' } } };
    const before = app({
      Producer: producer(exported),
      Consumer: consumer({ 'Fn::ImportValue': 'Producer:TopicArn' }),
    });
    const after = app({ Producer: producer({}), Consumer: consumer('x') });

    const [broken] = diffAssemblies(before, after).brokenOutputs;

    expect(broken?.read.via).toBe('Fn::ImportValue');
    expect(broken?.reason).toBe(
      'the upgrade removes this export, and CloudFormation refuses to delete an export in use: the Producer update fails',
    );
  });
});

describe('templatesFromAssembly', () => {
  const artifact = (stackName: string, hierarchicalId = stackName) => ({
    stackName,
    hierarchicalId,
    environment: { account: '123456789012', region: 'us-east-1' },
    template: { Resources: {} },
  });

  test('keys stacks by environment and stack name, sorted', () => {
    const assembly = { stacksRecursively: [artifact('shop-service'), artifact('shop-data', 'Eu/ShopData')] };
    expect(templatesFromAssembly(assembly as unknown as CloudAssembly).stacks).toEqual([
      {
        key: '123456789012/us-east-1/shop-data',
        stackName: 'shop-data',
        artifactId: 'Eu/ShopData',
        template: { Resources: {} },
      },
      {
        key: '123456789012/us-east-1/shop-service',
        stackName: 'shop-service',
        artifactId: 'shop-service',
        template: { Resources: {} },
      },
    ]);
  });

  test('fails when two stacks would deploy as the same stack', () => {
    const assembly = { stacksRecursively: [artifact('shop-data', 'A'), artifact('shop-data', 'B')] };
    expect(() => templatesFromAssembly(assembly as unknown as CloudAssembly)).toThrow(
      'Two stacks deploy as 123456789012/us-east-1/shop-data; stack names must be unique per environment.',
    );
  });
});

describe('rendering', () => {
  const before = app({ Main: { Resources: { Assets: bucket } } });
  const after = app({ Main: { Resources: { Topic: topic } } });
  const report = diffAssemblies(before, after);

  test('the per-stack diff is the cdk diff format', () => {
    let out = '';
    writeStackDiffs(report, { write: (chunk: string) => ((out += chunk), true) } as NodeJS.WritableStream);
    expect(out).toMatch(/^Stack Main\n/);
    expect(out).toContain('[-] AWS::S3::Bucket Assets');
    expect(out).toContain('[+] AWS::SNS::Topic Topic');
  });

  test('summaries name the verdict and the lost resource', () => {
    expect(renderTextSummary(report, 'x -> y')).toContain('UNSAFE: 1 data-bearing resource(s)');
    const markdown = renderMarkdownSummary(report, 'x', 'y');
    expect(markdown).toContain('# Upgrade `x` → `y`');
    expect(markdown).toContain('| removed | data | AWS::S3::Bucket | Main | Assets |');
  });

  test('weak cross-stack references read as ${stack:output}; text cells stay on one line', () => {
    const reference =
      '{"Fn::GetStackOutput":{"StackName":"shop-data","Region":"us-east-1","OutputName":"PublishOutputRefSecret"}}';
    expect(readableCell(`${reference}\n${reference}`)).toBe(
      '${shop-data:PublishOutputRefSecret}\n${shop-data:PublishOutputRefSecret}',
    );
    expect(textTable({ header: ['a', 'b'], rows: [['x\ny', 'z'.repeat(120)]] }).split('\n')[1]).toBe(
      `  x; y  ${'z'.repeat(99)}…`,
    );
  });

  test('markdown tables escape pipes', () => {
    expect(markdownTable({ header: ['a'], rows: [['x|y']] })).toBe('| a |\n| --- |\n| x\\|y |');
  });
});
