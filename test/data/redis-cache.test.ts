import { onlyResource, resourcesOf, synthStage } from '../support/synth';

describe('RedisCache (ShopData/Cache)', () => {
  // GIVEN
  const stage1k = synthStage('1k', { nag: false });
  const stage10k = synthStage('10k', { nag: false });
  const keyId = onlyResource(stage10k.json.data, 'AWS::KMS::Key').logicalId;

  test('is absent at 1k', () => {
    stage1k.templates.data.resourceCountIs('AWS::ElastiCache::ReplicationGroup', 0);
  });

  test('is Multi-AZ with automatic failover, encrypted at rest with the data key and in transit', () => {
    // WHEN
    const group = onlyResource(stage10k.json.data, 'AWS::ElastiCache::ReplicationGroup');
    // THEN
    expect(group.Properties).toMatchObject({
      Engine: 'redis',
      ReplicationGroupId: 'shop-redis',
      NumCacheClusters: 2,
      MultiAZEnabled: true,
      AutomaticFailoverEnabled: true,
      AtRestEncryptionEnabled: true,
      TransitEncryptionEnabled: true,
      KmsKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] },
      SnapshotRetentionLimit: 7,
    });
    expect(group.DeletionPolicy).toBe('Snapshot');
  });

  test('takes its AUTH token from a generated, KMS-encrypted secret (a dynamic reference, not a value)', () => {
    const group = onlyResource(stage10k.json.data, 'AWS::ElastiCache::ReplicationGroup');
    const [tokenId, token] = Object.entries(
      resourcesOf(stage10k.json.data, 'AWS::SecretsManager::Secret'),
    ).find(([id]) => id.startsWith('CacheAuthToken'))!;
    expect(group.Properties.AuthToken).toEqual({
      'Fn::Join': ['', ['{{resolve:secretsmanager:', { Ref: tokenId }, ':SecretString:::}}']],
    });
    expect(token.Properties).toMatchObject({
      KmsKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] },
      GenerateSecretString: { PasswordLength: 64, ExcludePunctuation: true },
    });
  });

  test('lives in isolated subnets and admits only the app tasks on 6379', () => {
    const subnetGroup = onlyResource(stage10k.json.data, 'AWS::ElastiCache::SubnetGroup');
    expect(JSON.stringify(subnetGroup.Properties.SubnetIds)).toMatch(
      /IsolatedSubnet1.*IsolatedSubnet2.*IsolatedSubnet3/,
    );
    const rules = Object.values(resourcesOf(stage10k.json.data, 'AWS::EC2::SecurityGroupIngress')).filter(
      (rule) => JSON.stringify(rule.Properties?.GroupId).includes('CacheSecurityGroup'),
    );
    expect(rules).toHaveLength(1);
    expect(rules[0]?.Properties).toMatchObject({ FromPort: 6379, ToPort: 6379 });
    expect(JSON.stringify(rules[0]?.Properties?.SourceSecurityGroupId)).toContain('AppSecurityGroup');
  });
});
