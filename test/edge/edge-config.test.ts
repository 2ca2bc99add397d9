/**
 * The edge's settings and where its stacks go: `global.edge` (price class, rate limit) reaching the templates, a home
 * region other than us-east-1, the replica region's choice, and the errors for what cannot work.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { DISABLE_ASSET_STAGING_CONTEXT } from 'aws-cdk-lib/cx-api';
import { createBlueprintApp } from '../../lib/blueprint';
import { DEFAULT_APP_CONTEXT } from '../../lib/config/deployment-context';
import { StageConfigError } from '../../lib/config/validate-stage-config';
import { apiOriginFunctionCode } from '../../lib/edge/api-origin-function';
import { EDGE_STACK_IDS } from '../../lib/edge/build-edge';
import {
  EDGE_REGION,
  edgeHostname,
  storefrontBucketName,
  storefrontReplicaRegion,
} from '../../lib/edge/names';
import { EdgeStack, type EdgeStackProps } from '../../lib/stacks/edge-stack';
import { ACCOUNT, DOMAIN, globalContext, globalStage, HOSTED_ZONE } from './support';

jest.setTimeout(300_000);

/** An edge stack on its own (no regions around it): fast, for what the stack itself decides. */
function edgeStack(overrides: Partial<EdgeStackProps> = {}): EdgeStack {
  // The blueprint's context (CDK's recommended feature flags), as every app of it has.
  const app = new App({ context: { ...DEFAULT_APP_CONTEXT, [DISABLE_ASSET_STAGING_CONTEXT]: true } });
  return new EdgeStack(app, 'ShopEdge', {
    env: { account: ACCOUNT, region: EDGE_REGION },
    prefix: 'shop',
    config: {},
    domainName: DOMAIN,
    hostedZone: HOSTED_ZONE,
    homeRegion: 'us-east-1',
    replicaRegion: 'eu-west-1',
    ...overrides,
  });
}

describe('global.edge settings', () => {
  test('the price class and the rate limit reach the distribution and the web ACL', () => {
    // WHEN
    const template = Template.fromStack(
      edgeStack({ config: { priceClass: 'PriceClass_100', rateLimitPerFiveMinutes: 500 } }),
    );
    // THEN
    template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: { PriceClass: 'PriceClass_100' },
    });
    const [acl] = Object.values(template.findResources('AWS::WAFv2::WebACL'));
    const rate = (acl!.Properties.Rules as { Name: string; Statement: Record<string, unknown> }[]).find(
      (rule) => rule.Name === 'RateLimitPerIp',
    );
    expect(rate!.Statement).toEqual({
      RateBasedStatement: { Limit: 500, AggregateKeyType: 'IP', EvaluationWindowSec: 300 },
    });
  });

  test.each([5, 2.5, 3_000_000_000])(
    'fails when the rate limit is %s, naming the key and the range',
    (limit) => {
      expect(() => edgeStack({ config: { rateLimitPerFiveMinutes: limit } })).toThrow(
        /global\.edge\.rateLimitPerFiveMinutes is .*whole number from 10 to 2000000000/,
      );
    },
  );

  test('fails outside us-east-1, where CloudFront takes no certificate or web ACL', () => {
    expect(() => edgeStack({ env: { account: ACCOUNT, region: 'eu-west-1' } })).toThrow(
      /env\.region is eu-west-1: CloudFront's certificate and web ACL live in us-east-1/,
    );
  });

  test('fails when the failover copy would sit beside the primary bucket', () => {
    expect(() => edgeStack({ replicaRegion: EDGE_REGION })).toThrow(/replicaRegion is us-east-1/);
  });
});

describe('names and regions', () => {
  test('the storefront bucket name is deterministic per account and region', () => {
    expect(storefrontBucketName('shop', ACCOUNT, 'eu-west-1')).toBe(`shop-storefront-${ACCOUNT}-eu-west-1`);
    expect(edgeHostname(DOMAIN)).toBe(`edge.${DOMAIN}`);
  });

  test('the replica is the second region, or the third when the second is us-east-1', () => {
    expect(storefrontReplicaRegion(['us-east-1', 'eu-west-1', 'ap-southeast-2'])).toBe('eu-west-1');
    expect(storefrontReplicaRegion(['eu-west-1', 'us-east-1', 'ap-southeast-2'])).toBe('ap-southeast-2');
    expect(storefrontReplicaRegion(['eu-west-1', 'ap-southeast-2', 'us-east-1'])).toBe('ap-southeast-2');
    expect(() => storefrontReplicaRegion(['eu-west-1', 'us-east-1'])).toThrow(/at least three regions/);
  });
});

describe('a deployment whose home is eu-west-1', () => {
  // GIVEN regions eu-west-1 (home), us-east-1, ap-southeast-2, built once (no nag, no CloudFormation validation)
  const app = createBlueprintApp({
    config: globalStage(),
    context: {
      [DISABLE_ASSET_STAGING_CONTEXT]: true,
      ...globalContext(['eu-west-1', 'us-east-1', 'ap-southeast-2']),
    },
    nag: false,
    cloudFormationValidation: false,
  });
  const edge = app.node.findChild(EDGE_STACK_IDS.edge) as EdgeStack;
  const replica = app.node.findChild(EDGE_STACK_IDS.replica) as Stack;

  test('keeps the edge in us-east-1 and puts the replica in the first further region that is not', () => {
    expect([edge.region, replica.region]).toEqual(['us-east-1', 'ap-southeast-2']);
  });

  test('sends writes and pinned viewers to the home region eu-west-1', () => {
    Template.fromStack(edge).hasResourceProperties('AWS::CloudFront::Function', {
      FunctionCode: apiOriginFunctionCode({ homeRegion: 'eu-west-1', domainName: DOMAIN }),
    });
    expect(apiOriginFunctionCode({ homeRegion: 'eu-west-1', domainName: DOMAIN })).toContain(
      `"homeOrigin":"api-eu-west-1.${DOMAIN}"`,
    );
  });

  test('names the replica bucket of ap-southeast-2 as the failover origin', () => {
    const template = Template.fromStack(edge).toJSON();
    expect(JSON.stringify(template)).toContain(
      `shop-storefront-${ACCOUNT}-ap-southeast-2.s3.ap-southeast-2.amazonaws.com`,
    );
  });
});

describe('errors', () => {
  test('stage global without the domain fails naming context.domainName and the fix', () => {
    const context = { ...globalContext() };
    delete context.domainName;
    delete context.hostedZoneId;
    delete context.hostedZoneName;
    delete context.frontDoor;
    const build = () =>
      createBlueprintApp({ config: globalStage(), context, nag: false, cloudFormationValidation: false });
    expect(build).toThrow(StageConfigError);
    expect(build).toThrow(/context\.domainName: .*-c domainName=shop\.example\.com/);
  });
});
