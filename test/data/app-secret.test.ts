import { resourcesOf, synthStage } from '../support/synth';

type Resource = { Type: string; Properties?: Record<string, unknown>; DeletionPolicy?: string };

/** The one resource of a type whose logical id starts with `prefix`. */
function only(template: Record<string, unknown>, type: string, prefix: string): [string, Resource] {
  const found = Object.entries(resourcesOf(template, type)).filter(([id]) => id.startsWith(prefix));
  if (found.length !== 1) throw new Error(`expected one ${type} ${prefix}*, found ${found.length}`);
  return found[0]! as [string, Resource];
}

describe.each(['1k', '10k'])("The app's database secret (ShopData/Default/AppSecret) at %s", (id) => {
  // GIVEN
  const data = synthStage(id, { nag: false }).json.data;
  const [secretId, secret] = only(data, 'AWS::SecretsManager::Secret', 'AppSecret');
  const [attachmentId, attachment] = only(
    data,
    'AWS::SecretsManager::SecretTargetAttachment',
    'AppSecretAttachment',
  );
  const [keyId] = only(data, 'AWS::KMS::Key', 'DataKey');

  test('is a generated login for shop_app_user, with masterarn, encrypted with the data key, retained', () => {
    const generate = secret.Properties?.GenerateSecretString as Record<string, unknown>;
    const template = JSON.stringify(generate.SecretStringTemplate);
    expect(template).toContain('\\"username\\":\\"shop_app_user\\"');
    expect(template).toContain('\\"dbname\\":\\"shop\\"');
    // The rotation function reads the master's credentials from `masterarn`.
    expect(template).toContain('\\"masterarn\\":\\"');
    expect(template).toContain('"Ref":"DatabaseClusterSecretAttachment');
    expect(generate.GenerateStringKey).toBe('password');
    expect(secret.Properties?.KmsKeyId).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
    expect(secret.DeletionPolicy).toBe('Retain');
    // Attached: it holds the cluster's host and port.
    expect(attachment.Properties).toEqual({
      SecretId: { Ref: secretId },
      TargetId: { Ref: expect.stringMatching(/^DatabaseCluster/) },
      TargetType: 'AWS::RDS::DBCluster',
    });
  });

  test('rotates every 30 days with the multi-user (alternating users) application, not on creation', () => {
    const [rotationId, rotation] = only(
      data,
      'AWS::Serverless::Application',
      'DatabaseClusterAppSecretRotation',
    );
    const mapping = JSON.stringify(
      (data.Mappings as Record<string, unknown>)[
        (rotation.Properties?.Location as Record<string, { 'Fn::FindInMap': [string] }>).ApplicationId[
          'Fn::FindInMap'
        ][0]
      ],
    );
    expect(mapping).toContain('SecretsManagerRDSPostgreSQLRotationMultiUser');
    expect(rotation.Properties?.Parameters).toMatchObject({
      masterSecretArn: { Ref: expect.stringMatching(/^DatabaseClusterSecretAttachment/) },
      masterSecretKmsKeyArn: { 'Fn::GetAtt': [keyId, 'Arn'] },
      kmsKeyArn: { 'Fn::GetAtt': [keyId, 'Arn'] },
    });
    expect(JSON.stringify(rotation.Properties?.Parameters)).toContain('PrivateSubnet');
    const schedules = Object.values(resourcesOf(data, 'AWS::SecretsManager::RotationSchedule')).filter(
      (schedule) => JSON.stringify(schedule.Properties?.SecretId) === JSON.stringify({ Ref: attachmentId }),
    );
    expect(schedules.map((schedule) => schedule.Properties)).toEqual([
      {
        SecretId: { Ref: attachmentId },
        RotationLambdaARN: { 'Fn::GetAtt': [rotationId, 'Outputs.RotationLambdaARN'] },
        RotationRules: { ScheduleExpression: 'rate(30 days)' },
        RotateImmediatelyOnUpdate: false,
      },
    ]);
  });

  test("the rotation function's group reaches the cluster on its port and Secrets Manager on 443, nothing else", () => {
    const [groupId, group] = only(data, 'AWS::EC2::SecurityGroup', 'AppSecretRotationSecurityGroup');
    expect(group.Properties?.SecurityGroupEgress).toEqual([
      expect.objectContaining({ CidrIp: '0.0.0.0/0', IpProtocol: 'tcp', FromPort: 443, ToPort: 443 }),
    ]);
    expect(group.Properties?.SecurityGroupIngress).toBeUndefined();
    const ref = JSON.stringify({ 'Fn::GetAtt': [groupId, 'GroupId'] });
    const egress = Object.values(resourcesOf(data, 'AWS::EC2::SecurityGroupEgress')).filter(
      (rule) => JSON.stringify(rule.Properties?.GroupId) === ref,
    );
    expect(egress.map((rule) => rule.Properties)).toEqual([
      expect.objectContaining({
        DestinationSecurityGroupId: {
          'Fn::GetAtt': [expect.stringMatching(/^DatabaseClusterSecurityGroup/), 'GroupId'],
        },
        FromPort: { 'Fn::GetAtt': [expect.stringMatching(/^DatabaseCluster/), 'Endpoint.Port'] },
      }),
    ]);
    // Admitted by the cluster only (no proxy rule: the secret's host is the cluster's).
    const admittedBy = Object.values(resourcesOf(data, 'AWS::EC2::SecurityGroupIngress'))
      .filter((rule) => JSON.stringify(rule.Properties?.SourceSecurityGroupId) === ref)
      .map((rule) => JSON.stringify(rule.Properties?.GroupId));
    expect(admittedBy).toEqual([expect.stringContaining('DatabaseClusterSecurityGroup')]);
  });
});

describe('RDS Proxy at 10k admits both secrets', () => {
  const data = synthStage('10k', { nag: false }).json.data;

  test("its role may read the master's and the app's secret and nothing else of Secrets Manager", () => {
    const [roleId] = only(data, 'AWS::IAM::Role', 'ProxyIAMRole');
    const statements = Object.values(resourcesOf(data, 'AWS::IAM::Policy'))
      .filter((policy) => JSON.stringify(policy.Properties?.Roles) === JSON.stringify([{ Ref: roleId }]))
      .flatMap(
        (policy) => (policy.Properties?.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement,
      );
    const secrets = statements.filter((statement) =>
      JSON.stringify(statement.Action).includes('secretsmanager:'),
    );
    expect(secrets).toHaveLength(1);
    expect(secrets[0]!.Resource).toEqual(
      expect.arrayContaining([
        { Ref: expect.stringMatching(/^AppSecretAttachment/) },
        { Ref: expect.stringMatching(/^DatabaseClusterSecretAttachment/) },
      ]),
    );
    expect((secrets[0]!.Resource as unknown[]).length).toBe(2);
  });
});
