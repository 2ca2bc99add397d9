/**
 * HTTPS by default (issue 9, B1): a hosted zone gives a DNS-validated certificate and the alias record; a
 * certificate of one's own still works; plain HTTP is served only on purpose (`-c plainHttp=true`), and then
 * the app is told that its session cookie cannot be Secure. Without any of these the templates synthesise for
 * looking at (the placeholder account), and a deployment to a real account refuses with the fix.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { DISABLE_ASSET_STAGING_CONTEXT } from 'aws-cdk-lib/cx-api';
import { blueprintStacks, createBlueprintApp } from '../../lib/blueprint';
import { readDeploymentContext, StageConfigError, type ConfigProblem } from '../../lib/config';
import { ServicePlatform } from '../../lib/constructs/service-platform';
import { stage1k, stageContext, stageGlobal } from '../../stages';
import { appTaskDefinition, onlyResource, resourcesOf, synthStage } from '../support/synth';

const ZONE = { hostedZoneId: 'Z0123456789ABCDEFGHIJ', hostedZoneName: 'example.com' };
const CERTIFICATE = 'arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555';

type Container = { Environment: { Name: string; Value: unknown }[] };
const environmentOf = (template: Record<string, unknown>) =>
  Object.fromEntries(
    (appTaskDefinition(template).Properties.ContainerDefinitions as Container[])[0]!.Environment.map(
      (entry) => [entry.Name, entry.Value],
    ),
  );

/** The problems `readDeploymentContext` finds in the given context (minimum zones: 3). */
function problemsOf(context: Record<string, unknown>): ConfigProblem[] {
  return readDeploymentContext((key) => context[key], 3).problems;
}

describe('HTTPS with a hosted zone (certificate and alias record made by the blueprint)', () => {
  // GIVEN
  const stage = synthStage('1k', { nag: false, context: { ...ZONE, domainName: 'shop.example.com' } });
  const listeners = () => resourcesOf(stage.json.service, 'AWS::ElasticLoadBalancingV2::Listener');

  test('creates a DNS-validated ACM certificate for the name, validated in the zone', () => {
    stage.templates.service.hasResourceProperties('AWS::CertificateManager::Certificate', {
      DomainName: 'shop.example.com',
      ValidationMethod: 'DNS',
      DomainValidationOptions: [{ DomainName: 'shop.example.com', HostedZoneId: ZONE.hostedZoneId }],
    });
  });

  test('serves HTTPS with that certificate and redirects HTTP to it', () => {
    const certificateId = onlyResource(stage.json.service, 'AWS::CertificateManager::Certificate').logicalId;
    stage.templates.service.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 443,
      Protocol: 'HTTPS',
      Certificates: [{ CertificateArn: { Ref: certificateId } }],
    });
    stage.templates.service.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      DefaultActions: [Match.objectLike({ Type: 'redirect' })],
    });
    expect(Object.keys(listeners())).toHaveLength(2);
  });

  test('writes the alias A record of the name to the load balancer into the zone', () => {
    const loadBalancerId = onlyResource(
      stage.json.service,
      'AWS::ElasticLoadBalancingV2::LoadBalancer',
    ).logicalId;
    stage.templates.service.hasResourceProperties('AWS::Route53::RecordSet', {
      Name: 'shop.example.com.',
      Type: 'A',
      HostedZoneId: ZONE.hostedZoneId,
      AliasTarget: {
        DNSName: {
          'Fn::Join': ['', ['dualstack.', { 'Fn::GetAtt': [loadBalancerId, 'DNSName'] }]],
        },
        HostedZoneId: { 'Fn::GetAtt': [loadBalancerId, 'CanonicalHostedZoneID'] },
      },
    });
  });

  test('leaves the session cookie Secure (the app default) and outputs the https URL', () => {
    expect(environmentOf(stage.json.service)).not.toHaveProperty('SESSION_COOKIE_SECURE');
    expect(stage.json.service).toMatchObject({ Outputs: { Url: { Value: 'https://shop.example.com' } } });
  });

  test('looks nothing up: the zone comes from context, synth stays offline, and no warning', () => {
    expect(stage.assembly.manifest.missing ?? []).toEqual([]);
    expect(stage.synthOutput).not.toContain('@shop/blueprint:httpOnly');
    expect(stage.synthOutput).not.toContain('@shop/blueprint:plainHttp');
  });
});

describe('HTTPS with a certificate of your own', () => {
  test('uses it, and makes no certificate; with a zone it still writes the alias record', () => {
    // GIVEN
    const ownOnly = synthStage('1k', {
      nag: false,
      context: { domainName: 'shop.example.com', certificateArn: CERTIFICATE },
    });
    const ownInZone = synthStage('1k', {
      nag: false,
      context: { ...ZONE, domainName: 'shop.example.com', certificateArn: CERTIFICATE },
    });

    // THEN
    for (const stage of [ownOnly, ownInZone]) {
      stage.templates.service.resourceCountIs('AWS::CertificateManager::Certificate', 0);
      stage.templates.service.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
        Port: 443,
        Certificates: [{ CertificateArn: CERTIFICATE }],
      });
      expect(environmentOf(stage.json.service)).not.toHaveProperty('SESSION_COOKIE_SECURE');
    }
    ownOnly.templates.service.resourceCountIs('AWS::Route53::RecordSet', 0);
    ownInZone.templates.service.resourceCountIs('AWS::Route53::RecordSet', 1);
  });
});

describe('plain HTTP', () => {
  test('without HTTPS settings the templates are for looking at: a warning says how to choose', () => {
    // GIVEN the placeholder account of cdk.json (no deployment can reach it)
    const stage = synthStage('1k', { nag: false });

    // THEN
    expect(stage.synthOutput).toContain('@shop/blueprint:httpOnly');
    expect(stage.synthOutput).toContain('for looking at');
    // What the template would deploy works over HTTP: the app is told its cookie cannot be Secure.
    expect(environmentOf(stage.json.service)).toMatchObject({ SESSION_COOKIE_SECURE: 'false' });
  });

  test('a deployment to a real account without a choice refuses, naming the key and every fix', () => {
    // WHEN
    const build = () =>
      createBlueprintApp({ config: stage1k, nag: false, context: { account: '111122223333' } });

    // THEN
    expect(build).toThrow(StageConfigError);
    expect(build).toThrow(/context\.plainHttp: .*account 111122223333 needs HTTPS/);
    expect(build).toThrow(
      /-c hostedZoneId=Z\.\.\. -c hostedZoneName=example\.com -c domainName=shop\.example\.com/,
    );
    expect(build).toThrow(/-c certificateArn=arn:aws:acm:/);
    expect(build).toThrow(/-c plainHttp=true/);
  });

  test('opted in with -c plainHttp=true: HTTP only, a non-Secure cookie, and a loud clear-text warning', () => {
    // GIVEN a real account
    const stage = synthStage('1k', { nag: false, context: { account: '111122223333', plainHttp: 'true' } });

    // THEN
    const listeners = Object.values(resourcesOf(stage.json.service, 'AWS::ElasticLoadBalancingV2::Listener'));
    expect(listeners.map((listener) => listener.Properties?.Protocol)).toEqual(['HTTP']);
    expect(environmentOf(stage.json.service)).toMatchObject({ SESSION_COOKIE_SECURE: 'false' });
    expect(stage.synthOutput).toContain('PLAIN HTTP ON PURPOSE');
    expect(stage.synthOutput).toContain('clear text');
  });
});

describe('an internal load balancer (the regions of stage global after the first)', () => {
  test('a real account needs no plain-HTTP choice for them: they are internal, the first region serves HTTPS', () => {
    // WHEN
    const app = createBlueprintApp({
      config: stageGlobal,
      nag: false,
      context: { ...stageContext('global'), account: '111122223333', [DISABLE_ASSET_STAGING_CONTEXT]: true },
    });

    // THEN
    const regions = Object.values(blueprintStacks(app).regions);
    expect(regions.map(({ service }) => [service.platform.internetFacing, service.platform.https])).toEqual([
      [true, true],
      [false, false],
      [false, false],
    ]);
  });

  test.each([
    [
      'HTTPS settings',
      { https: { domainName: 'shop.example.com', certificateArn: CERTIFICATE } },
      /https \(received domainName shop\.example\.com\)/,
    ],
    ['plain HTTP on purpose', { plainHttp: true }, /plainHttp \(received true\)/],
  ])('fails when given %s, naming the field', (_case, props, message) => {
    // GIVEN
    const stack = new Stack(new App(), 'Platform', { env: { account: '123456789012', region: 'eu-west-1' } });
    const vpc = new ec2.Vpc(stack, 'Vpc');

    // WHEN
    let error: unknown;
    try {
      new ServicePlatform(stack, 'Shop', {
        vpc,
        namespaceName: 'shop.internal',
        internal: { clients: ec2.Peer.ipv4('10.0.0.0/16') },
        ...props,
      });
    } catch (caught) {
      error = caught;
    }

    // THEN
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/the load balancer is internal/);
    expect((error as Error).message).toMatch(message);
  });
});

describe('HTTPS context validation', () => {
  const keys = (context: Record<string, unknown>) => problemsOf(context).map((problem) => problem.key);

  test.each([
    [
      'a zone id without its name',
      { hostedZoneId: ZONE.hostedZoneId, domainName: 'shop.example.com' },
      'context.hostedZoneName',
      /both "-c hostedZoneId=Z\.\.\." and "-c hostedZoneName/,
    ],
    [
      'a zone name without its id',
      { hostedZoneName: 'example.com', domainName: 'shop.example.com' },
      'context.hostedZoneId',
      /both/,
    ],
    [
      'a zone id that is not one',
      { ...ZONE, hostedZoneId: '/hostedzone/Z0123', domainName: 'shop.example.com' },
      'context.hostedZoneId',
      /without "\/hostedzone\/"/,
    ],
    [
      'a zone name that is not a DNS name',
      { ...ZONE, hostedZoneName: 'example', domainName: 'shop.example.com' },
      'context.hostedZoneName',
      /hostedZoneName=example\.com/,
    ],
    [
      'a zone without the name to serve',
      { ...ZONE },
      'context.domainName',
      /-c domainName=shop\.example\.com/,
    ],
    [
      'a name outside the zone',
      { ...ZONE, domainName: 'shop.example.org' },
      'context.domainName',
      /in the hosted zone example\.com/,
    ],
    [
      'a name without a certificate or zone',
      { domainName: 'shop.example.com' },
      'context.domainName',
      /hostedZoneId=Z\.\.\..*certificateArn=/,
    ],
    [
      'plain HTTP together with HTTPS settings',
      { ...ZONE, domainName: 'shop.example.com', plainHttp: 'true' },
      'context.plainHttp',
      /choose one/,
    ],
    ['plain HTTP that is not a boolean', { plainHttp: 'maybe' }, 'context.plainHttp', /-c plainHttp=true/],
  ])('fails for %s, naming the key and the fix', (_case, context, key, fix) => {
    const problems = problemsOf(context);
    expect(problems.map((problem) => problem.key)).toContain(key);
    expect(problems.find((problem) => problem.key === key)!.fix).toMatch(fix);
  });

  test('accepts the apex of the zone, a trailing dot, and a zone with a certificate of your own', () => {
    expect(keys({ ...ZONE, domainName: 'example.com' })).toEqual([]);
    expect(keys({ ...ZONE, hostedZoneName: 'Example.com.', domainName: 'shop.example.com' })).toEqual([]);
    expect(keys({ ...ZONE, domainName: 'shop.example.com', certificateArn: CERTIFICATE })).toEqual([]);
    expect(keys({ account: '111122223333', plainHttp: true })).toEqual([]);
    expect(keys({})).toEqual([]);
  });
});
