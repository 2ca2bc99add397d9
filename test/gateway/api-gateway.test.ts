/**
 * ApiGateway (stage 1m): HTTP API -> VPC link -> internal ALB, `/internal/*` and `/metrics` never forwarded,
 * per-route throttles, encrypted access logs, and with a domain the custom domain and an HTTPS hop that the
 * VPC link verifies.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { GATEWAY_DEFAULTS, StageConfigError, type GatewayConfig } from '../../lib/config';
import { ApiGateway } from '../../lib/constructs';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed template JSON, read field by field
type Parsed = any;
type Resource = { Type: string; Properties: Record<string, Parsed>; DependsOn?: string[] };

function build(options: { config?: GatewayConfig; domain?: boolean; serviceIds?: string[] } = {}) {
  const stack = new Stack(new App(), 'Service', { env: { account: '111111111111', region: 'eu-west-1' } });
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
  const gateway = new ApiGateway(stack, 'Gateway', {
    config: options.config ?? { defaultService: 'products' },
    serviceIds: options.serviceIds ?? ['users', 'orders', 'products'],
    vpc,
    prefix: 'shop',
    logEncryptionKey: new kms.Key(stack, 'LogsKey'),
    accessLogsBucket: new s3.Bucket(stack, 'AccessLogs'),
    ...(options.domain === true
      ? {
          domain: {
            domainName: 'shop.example.com',
            certificate: acm.Certificate.fromCertificateArn(
              stack,
              'Certificate',
              'arn:aws:acm:eu-west-1:111111111111:certificate/abc',
            ),
          },
        }
      : {}),
  });
  const targetGroup = new elbv2.ApplicationTargetGroup(stack, 'ProductsTargets', {
    vpc,
    port: 3000,
    protocol: elbv2.ApplicationProtocol.HTTP,
    targetType: elbv2.TargetType.IP,
  });
  gateway.setDefaultService({ targetGroup });
  return { stack, gateway, template: Template.fromStack(stack), targetGroup };
}

const resources = (template: Template, type: string) =>
  Object.entries(template.findResources(type)) as [string, Resource][];

describe('ApiGateway without a domain', () => {
  // GIVEN / WHEN
  const { template, stack, targetGroup } = build();

  test('an HTTP API whose $default route goes through a VPC link to the internal load balancer', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { Name: 'shop-api', ProtocolType: 'HTTP' });
    template.hasResourceProperties('AWS::ApiGatewayV2::VpcLink', { Name: 'shop-api' });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Scheme: 'internal',
      LoadBalancerAttributes: Match.arrayWith([
        { Key: 'routing.http.drop_invalid_header_fields.enabled', Value: 'true' },
        { Key: 'access_logs.s3.enabled', Value: 'true' },
        { Key: 'access_logs.s3.prefix', Value: 'internal-alb' },
      ]),
    });
    const [listenerId] = resources(template, 'AWS::ElasticLoadBalancingV2::Listener')[0]!;
    template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'HTTP_PROXY',
      ConnectionType: 'VPC_LINK',
      IntegrationUri: { Ref: listenerId },
      TlsConfig: Match.absent(),
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: '$default' });
  });

  test("every integration overwrites x-client-ip with the caller's address (clients cannot spoof it)", () => {
    const integrations = resources(template, 'AWS::ApiGatewayV2::Integration');
    expect(integrations.length).toBeGreaterThan(0);
    for (const [, integration] of integrations) {
      expect(integration.Properties.RequestParameters).toEqual({
        'overwrite:header.x-client-ip': '$context.identity.sourceIp',
      });
    }
    // Every route, the $default one included, uses an integration that sets it.
    const integrationIds = integrations.map(([id]) => id);
    const routes = resources(template, 'AWS::ApiGatewayV2::Route');
    expect(routes.length).toBeGreaterThan(1);
    for (const [, route] of routes) {
      expect(integrationIds).toContain(String(route.Properties.Target['Fn::Join'][1][1].Ref));
    }
    expect(GATEWAY_DEFAULTS.clientIpHeader).toBe('x-client-ip');
  });

  test('the internal listener is HTTP inside the VPC, admits only the VPC link, and forwards the rest to the default service', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      Protocol: 'HTTP',
      DefaultActions: [
        {
          Type: 'forward',
          TargetGroupArn: { Ref: stack.getLogicalId(targetGroup.node.defaultChild as never) },
        },
      ],
    });
    const groups = resources(template, 'AWS::EC2::SecurityGroup');
    const lbGroup = groups.find(([, g]) =>
      String(g.Properties.GroupDescription).startsWith('Internal load balancer'),
    )!;
    const linkGroup = groups.find(([, g]) => String(g.Properties.GroupDescription).startsWith('VPC link'))!;
    expect(lbGroup[1].Properties.SecurityGroupIngress).toBeUndefined();
    const ingress = resources(template, 'AWS::EC2::SecurityGroupIngress').map(([, r]) => r.Properties);
    expect(ingress).toEqual([
      expect.objectContaining({
        GroupId: { 'Fn::GetAtt': [lbGroup[0], 'GroupId'] },
        SourceSecurityGroupId: { 'Fn::GetAtt': [linkGroup[0], 'GroupId'] },
        FromPort: 80,
        ToPort: 80,
      }),
    ]);
    // The link reaches the load balancer's group on the listener port, and nothing else.
    expect(JSON.stringify(linkGroup[1].Properties.SecurityGroupEgress ?? [])).not.toContain('0.0.0.0/0');
    expect(resources(template, 'AWS::EC2::SecurityGroupEgress').map(([, r]) => r.Properties)).toEqual([
      expect.objectContaining({
        GroupId: { 'Fn::GetAtt': [linkGroup[0], 'GroupId'] },
        DestinationSecurityGroupId: { 'Fn::GetAtt': [lbGroup[0], 'GroupId'] },
        FromPort: 80,
        ToPort: 80,
      }),
    ]);
  });

  test('/internal/* and /metrics are answered with a 404 by the load balancer before any service rule', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::ListenerRule', {
      Priority: 1,
      Conditions: [
        { Field: 'path-pattern', PathPatternConfig: { Values: [...GATEWAY_DEFAULTS.blockedPaths] } },
      ],
      Actions: [{ Type: 'fixed-response', FixedResponseConfig: Match.objectLike({ StatusCode: '404' }) }],
    });
  });

  test('the gateway refuses /internal itself: IAM authorization no principal is granted', () => {
    for (const routeKey of ['ANY /internal', 'ANY /internal/{proxy+}']) {
      template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
        RouteKey: routeKey,
        AuthorizationType: 'AWS_IAM',
      });
    }
    expect(JSON.stringify(resources(template, 'AWS::IAM::Policy'))).not.toContain('execute-api:Invoke');
  });

  test('throttles every route, log-in and sign-up more strictly (each a route of its own)', () => {
    const [, stage] = resources(template, 'AWS::ApiGatewayV2::Stage')[0]!;
    expect(stage.Properties).toMatchObject({ StageName: '$default', AutoDeploy: true });
    expect(stage.Properties.DefaultRouteSettings).toMatchObject({
      ThrottlingRateLimit: GATEWAY_DEFAULTS.throttle.rateLimit,
      ThrottlingBurstLimit: GATEWAY_DEFAULTS.throttle.burstLimit,
    });
    expect(stage.Properties.RouteSettings).toEqual({
      'POST /api/sessions': { ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 },
      'POST /api/users': { ThrottlingRateLimit: 20, ThrottlingBurstLimit: 50 },
    });
    for (const routeKey of Object.keys(stage.Properties.RouteSettings)) {
      const [routeId] = resources(template, 'AWS::ApiGatewayV2::Route').find(
        ([, route]) => route.Properties.RouteKey === routeKey,
      )!;
      // The stage is deployed after the routes its settings name.
      expect(stage.DependsOn).toContain(routeId);
      expect(
        GATEWAY_DEFAULTS.routeThrottles[routeKey as keyof typeof GATEWAY_DEFAULTS.routeThrottles].rateLimit,
      ).toBeLessThan(GATEWAY_DEFAULTS.throttle.rateLimit);
    }
  });

  test('writes JSON access logs to a log group encrypted with the logs key', () => {
    const [logGroupId, logGroup] = resources(template, 'AWS::Logs::LogGroup')[0]!;
    expect(logGroup.Properties.KmsKeyId).toEqual({
      'Fn::GetAtt': [expect.stringMatching(/^LogsKey/), 'Arn'],
    });
    expect(logGroup.Properties.RetentionInDays).toBe(365);
    const [, stage] = resources(template, 'AWS::ApiGatewayV2::Stage')[0]!;
    expect(stage.Properties.AccessLogSettings.DestinationArn).toEqual({ 'Fn::GetAtt': [logGroupId, 'Arn'] });
    const format = JSON.parse(stage.Properties.AccessLogSettings.Format as string) as Record<string, string>;
    expect(format).toMatchObject({ requestId: '$context.requestId', status: '$context.status' });
  });

  test('no custom domain without one', () => {
    template.resourceCountIs('AWS::ApiGatewayV2::DomainName', 0);
  });
});

describe('ApiGateway with the foundation domain', () => {
  const { template } = build({ domain: true });

  test('maps the API to the custom domain (TLS 1.2) with the certificate', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::DomainName', {
      DomainName: 'shop.example.com',
      DomainNameConfigurations: [
        Match.objectLike({
          CertificateArn: 'arn:aws:acm:eu-west-1:111111111111:certificate/abc',
          SecurityPolicy: 'TLS_1_2',
        }),
      ],
    });
    template.resourceCountIs('AWS::ApiGatewayV2::ApiMapping', 1);
  });

  test('the API mapping has a stable logical id, and maps the $default stage to the domain', () => {
    const mappings = resources(template, 'AWS::ApiGatewayV2::ApiMapping');
    expect(mappings).toHaveLength(1);
    const [mappingId, mapping] = mappings[0]!;
    expect(mappingId).toMatch(/^GatewayApiMapping[0-9A-F]{8}$/);
    expect(mappingId).not.toMatch(/undefined/i);
    const [domainId] = resources(template, 'AWS::ApiGatewayV2::DomainName')[0]!;
    const [stageId] = resources(template, 'AWS::ApiGatewayV2::Stage')[0]!;
    expect(mapping.Properties.DomainName).toEqual({ Ref: domainId });
    expect(mapping.Properties.Stage).toBe('$default');
    expect(mapping.DependsOn).toContain(stageId);
  });

  test('the hop to the load balancer is HTTPS, and the VPC link verifies the domain name', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 443,
      Protocol: 'HTTPS',
      Certificates: [{ CertificateArn: 'arn:aws:acm:eu-west-1:111111111111:certificate/abc' }],
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      TlsConfig: { ServerNameToVerify: 'shop.example.com' },
    });
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', { FromPort: 443, ToPort: 443 });
  });
});

describe('ApiGateway validation', () => {
  test('fails when the default service is not a service of the stage', () => {
    expect(() => build({ config: { defaultService: 'catalog' } })).toThrow(StageConfigError);
    expect(() => build({ config: { defaultService: 'catalog' } })).toThrow(
      /config\.defaultService: received "catalog"/,
    );
  });

  test('fails when a route throttle has a bad key or a zero rate', () => {
    expect(() =>
      build({
        config: {
          defaultService: 'products',
          routeThrottles: { '/api/sessions': { rateLimit: 0, burstLimit: 10 } },
        },
      }),
    ).toThrow(/config\.routeThrottles: received "\/api\/sessions"[\s\S]*rateLimit: received 0/);
  });
});
