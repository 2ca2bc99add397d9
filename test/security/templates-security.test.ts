import { stageIds } from '../../stages';
import { findPlainTextSecrets } from '../support/secret-scan';
import { resourcesOf, synthStage } from '../support/synth';

describe('the plain-text secret scanner', () => {
  test('finds a literal password, a secret-named environment variable and a literal joined token', () => {
    // GIVEN
    const template = {
      Resources: {
        Db: { Type: 'AWS::RDS::DBCluster', Properties: { MasterUserPassword: 'hunter2hunter2' } },
        Task: {
          Type: 'AWS::ECS::TaskDefinition',
          Properties: { ContainerDefinitions: [{ Environment: [{ Name: 'DB_PASSWORD', Value: 'x' }] }] },
        },
        Cache: {
          Type: 'AWS::ElastiCache::ReplicationGroup',
          Properties: { AuthToken: { 'Fn::Join': ['', ['ab', 'cd']] } },
        },
      },
    };
    // WHEN
    const findings = findPlainTextSecrets(template);
    // THEN
    expect(findings.map((finding) => finding.path)).toEqual(
      expect.arrayContaining([
        '$.Resources.Db.Properties.MasterUserPassword',
        '$.Resources.Task.Properties.ContainerDefinitions[0].Environment[0]',
        '$.Resources.Cache.Properties.AuthToken',
      ]),
    );
  });

  test('accepts dynamic references and Refs', () => {
    const template = {
      Resources: {
        Db: {
          Type: 'AWS::RDS::DBCluster',
          Properties: {
            MasterUserPassword: {
              'Fn::Join': ['', ['{{resolve:secretsmanager:', { Ref: 'S' }, ':SecretString:password::}}']],
            },
          },
        },
        Proxy: { Type: 'AWS::RDS::DBProxy', Properties: { Auth: [{ SecretArn: { Ref: 'S' } }] } },
        Task: {
          Type: 'AWS::ECS::TaskDefinition',
          Properties: {
            ContainerDefinitions: [
              {
                Environment: [
                  { Name: 'DB_SECRET_ARN', Value: { Ref: 'S' } },
                  {
                    Name: 'OTHER_SECRET_ARN',
                    Value: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:x',
                  },
                ],
              },
            ],
          },
        },
      },
    };
    expect(findPlainTextSecrets(template)).toEqual([]);
  });

  test('a *_ARN variable holding something other than an ARN or a reference is still a finding', () => {
    const template = {
      Resources: {
        Task: {
          Type: 'AWS::ECS::TaskDefinition',
          Properties: {
            ContainerDefinitions: [{ Environment: [{ Name: 'DB_SECRET_ARN', Value: 'hunter2hunter2' }] }],
          },
        },
      },
    };
    expect(findPlainTextSecrets(template).map((finding) => finding.path)).toEqual([
      '$.Resources.Task.Properties.ContainerDefinitions[0].Environment[0]',
    ]);
  });
});

describe.each(stageIds)('security properties of every template of stage %s', (id) => {
  // GIVEN
  const stage = synthStage(id, { nag: false });
  const templates = Object.entries(stage.json);

  test('no credential appears in plain text', () => {
    for (const [stackId, template] of templates) {
      expect({ stackId, findings: findPlainTextSecrets(template) }).toEqual({ stackId, findings: [] });
    }
  });

  test('every log group with retention, secret, SNS topic and bucket is encrypted', () => {
    for (const [, template] of templates) {
      for (const group of Object.values(resourcesOf(template, 'AWS::Logs::LogGroup'))) {
        expect(group.Properties?.KmsKeyId).toBeDefined();
      }
      for (const secret of Object.values(resourcesOf(template, 'AWS::SecretsManager::Secret'))) {
        expect(secret.Properties?.KmsKeyId).toBeDefined();
      }
      for (const topic of Object.values(resourcesOf(template, 'AWS::SNS::Topic'))) {
        expect(topic.Properties?.KmsMasterKeyId).toBeDefined();
      }
      for (const bucket of Object.values(resourcesOf(template, 'AWS::S3::Bucket'))) {
        expect(bucket.Properties?.BucketEncryption).toBeDefined();
      }
    }
  });

  test('every customer-managed key rotates and is retained', () => {
    for (const [, template] of templates) {
      for (const key of Object.values(resourcesOf(template, 'AWS::KMS::Key'))) {
        expect(key.Properties?.EnableKeyRotation).toBe(true);
        expect(key.DeletionPolicy).toBe('Retain');
      }
    }
  });

  test('only the load balancer accepts traffic from the internet', () => {
    const openToWorld: string[] = [];
    for (const [stackId, template] of templates) {
      for (const [logicalId, group] of Object.entries(resourcesOf(template, 'AWS::EC2::SecurityGroup'))) {
        const ingress = (group.Properties?.SecurityGroupIngress ?? []) as {
          CidrIp?: string;
          CidrIpv6?: string;
        }[];
        if (ingress.some((rule) => rule.CidrIp === '0.0.0.0/0' || rule.CidrIpv6 === '::/0')) {
          openToWorld.push(`${stackId}/${logicalId}`);
        }
      }
      for (const [logicalId, rule] of Object.entries(
        resourcesOf(template, 'AWS::EC2::SecurityGroupIngress'),
      )) {
        if (rule.Properties?.CidrIp === '0.0.0.0/0') openToWorld.push(`${stackId}/${logicalId}`);
      }
    }
    expect(openToWorld).toEqual([expect.stringMatching(/^service\/ShopLoadBalancerSecurityGroup/)]);
  });

  test('every data-bearing database resource is protected from deletion', () => {
    for (const [, template] of templates) {
      for (const cluster of Object.values(resourcesOf(template, 'AWS::RDS::DBCluster'))) {
        expect(cluster.Properties?.DeletionProtection).toBe(true);
        expect(cluster.DeletionPolicy).toBe('Snapshot');
      }
      for (const group of Object.values(resourcesOf(template, 'AWS::ElastiCache::ReplicationGroup'))) {
        expect(group.DeletionPolicy).toBe('Snapshot');
      }
    }
    expect(stage.stacks.data.terminationProtection).toBe(true);
  });
});
