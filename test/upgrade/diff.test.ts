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
    expect(markdown).toContain('| removed | AWS::S3::Bucket | Main | Assets |');
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
