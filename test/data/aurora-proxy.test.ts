import { onlyResource, resourcesOf, synthStage } from '../support/synth';

describe('AuroraProxy (ShopData/Proxy)', () => {
  // GIVEN
  const stage1k = synthStage('1k', { nag: false });
  const stage10k = synthStage('10k', { nag: false });

  test('is absent at 1k', () => {
    stage1k.templates.data.resourceCountIs('AWS::RDS::DBProxy', 0);
    stage1k.templates.data.resourceCountIs('AWS::RDS::DBProxyEndpoint', 0);
  });

  test('requires TLS and authenticates the master (migrations) and the app secret at 10k', () => {
    // WHEN
    const proxy = onlyResource(stage10k.json.data, 'AWS::RDS::DBProxy');
    // THEN
    expect(proxy.Properties.RequireTLS).toBe(true);
    expect(proxy.Properties.EngineFamily).toBe('POSTGRESQL');
    expect(proxy.Properties.Auth).toEqual([
      expect.objectContaining({
        AuthScheme: 'SECRETS',
        SecretArn: { Ref: expect.stringMatching(/^DatabaseClusterSecretAttachment/) },
      }),
      {
        AuthScheme: 'SECRETS',
        IAMAuth: 'DISABLED',
        SecretArn: { Ref: expect.stringMatching(/^AppSecretAttachment/) },
      },
    ]);
    stage10k.templates.data.hasResourceProperties('AWS::RDS::DBProxyTargetGroup', {
      ConnectionPoolConfigurationInfo: { MaxConnectionsPercent: 90 },
    });
  });

  test('has a read-only endpoint on the same security group', () => {
    const proxy = onlyResource(stage10k.json.data, 'AWS::RDS::DBProxy');
    const endpoint = onlyResource(stage10k.json.data, 'AWS::RDS::DBProxyEndpoint');
    expect(endpoint.Properties).toMatchObject({
      TargetRole: 'READ_ONLY',
      DBProxyName: { Ref: proxy.logicalId },
      DBProxyEndpointName: 'shop-db-read-only',
      VpcSecurityGroupIds: proxy.Properties.VpcSecurityGroupIds,
    });
  });

  test('admits only the app tasks, on 5432', () => {
    const rules = Object.values(resourcesOf(stage10k.json.data, 'AWS::EC2::SecurityGroupIngress')).filter(
      (rule) => JSON.stringify(rule.Properties?.GroupId).includes('ProxySecurityGroup'),
    );
    expect(rules).toHaveLength(1);
    expect(rules[0]?.Properties).toMatchObject({ FromPort: 5432, ToPort: 5432, IpProtocol: 'tcp' });
    expect(JSON.stringify(rules[0]?.Properties?.SourceSecurityGroupId)).toContain('AppSecurityGroup');
  });
});
