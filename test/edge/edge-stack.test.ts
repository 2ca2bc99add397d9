/**
 * The edge of stage global (`<prefix>-edge` in us-east-1, `<prefix>-edge-replica` in the replica region) in a
 * three-region app: origin access control, the origin group, WAF, TLS, logging, the certificate's region, the
 * records of the domain (one owning stack each) and no cross-region reference.
 */
import { Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { apiOriginFunctionCode } from '../../lib/edge/api-origin-function';
import { EDGE_STACK_IDS } from '../../lib/edge/build-edge';
import { EdgeReplicaStack, EdgeStack, STOREFRONT_FAILOVER_STATUS_CODES } from '../../lib/stacks/edge-stack';
import { resourcesOf, synthStage } from '../support/synth';
import { ACCOUNT, DOMAIN, globalContext, globalStage, HOSTED_ZONE, templateOf } from './support';

jest.setTimeout(300_000);

// CloudFront's managed policies (ids are fixed by AWS).
const CACHING_DISABLED = '4135ea2d-6df8-44a3-9df3-4b5a84be39ad';
const CACHING_OPTIMIZED = '658327ea-f89d-4fab-a63d-7e88639e58f6';
const ALL_VIEWER_EXCEPT_HOST_HEADER = 'b689b0a8-53d0-40ab-baf2-68738e2966ac';
/** Route 53's hosted zone id of every CloudFront alias target. */
const CLOUDFRONT_ZONE_ID = 'Z2FDTNDATAQYW2';

// GIVEN: stage 1m + global in us-east-1 (home), eu-west-1 and ap-southeast-2, built and synthesised once
const stage = synthStage('1m', { config: globalStage(), context: globalContext() });
const edge = stage.app.node.findChild(EDGE_STACK_IDS.edge) as EdgeStack;
const replica = stage.app.node.findChild(EDGE_STACK_IDS.replica) as EdgeReplicaStack;
const edgeJson = templateOf(stage.assembly, edge);
const replicaJson = templateOf(stage.assembly, replica);
const edgeTemplate = Template.fromJSON(edgeJson);
const replicaTemplate = Template.fromJSON(replicaJson);
const serviceTemplate = stage.templates.service;

describe('the edge stacks', () => {
  test('are <prefix>-edge in us-east-1 and <prefix>-edge-replica in the second region', () => {
    expect([edge.stackName, edge.region, edge.account]).toEqual(['shop-edge', 'us-east-1', ACCOUNT]);
    expect([replica.stackName, replica.region]).toEqual(['shop-edge-replica', 'eu-west-1']);
  });

  test('synthesise without warnings (the imported failover bucket is acknowledged, its policy is its own stack)', () => {
    for (const stack of [edge, replica]) {
      expect(Annotations.fromStack(stack).findWarning('*', Match.anyValue())).toEqual([]);
      expect(Annotations.fromStack(stack).findError('*', Match.anyValue())).toEqual([]);
    }
  });

  test('deploy in order: replica, edge, then the home service stack whose record aliases the edge', () => {
    expect(edge.dependencies).toContain(replica);
    expect(stage.stacks.service.dependencies).toContain(edge);
  });
});

describe('the storefront buckets', () => {
  test.each([
    ['edge', () => edgeTemplate, 'us-east-1'],
    ['replica', () => replicaTemplate, 'eu-west-1'],
  ])(
    'the %s bucket is named, encrypted, private, versioned and logged, and gets the app files',
    (_, template, region) => {
      template().hasResourceProperties('AWS::S3::Bucket', {
        BucketName: `shop-storefront-${ACCOUNT}-${region}`,
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        VersioningConfiguration: { Status: 'Enabled' },
        LoggingConfiguration: { DestinationBucketName: Match.anyValue(), LogFilePrefix: 'storefront/' },
      });
      const [bucketId] = Object.entries(resourcesOf(template().toJSON(), 'AWS::S3::Bucket')).find(
        ([, bucket]) => bucket.Properties?.BucketName === `shop-storefront-${ACCOUNT}-${region}`,
      )!;
      expect(template().toJSON().Resources[bucketId].DeletionPolicy).toBe('Retain');
      // TLS only
      template().hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: bucketId },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
      template().hasResourceProperties('Custom::CDKBucketDeployment', {
        DestinationBucketName: { Ref: bucketId },
        Prune: true,
      });
    },
  );

  test('the edge bucket admits only this distribution (origin access control)', () => {
    edgeTemplate.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudfront.amazonaws.com' },
            Action: 's3:GetObject',
            Condition: {
              StringEquals: {
                'AWS:SourceArn': {
                  'Fn::Join': [
                    '',
                    Match.arrayWith([
                      Match.stringLikeRegexp(':cloudfront::'),
                      { Ref: Match.stringLikeRegexp('^Distribution') },
                    ]),
                  ],
                },
              },
            },
          }),
        ]),
      },
    });
  });

  test("the replica bucket admits CloudFront of this account only (no reference to the distribution's id)", () => {
    replicaTemplate.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Sid: 'CloudFrontOriginAccessControlRead',
            Effect: 'Allow',
            Principal: { Service: 'cloudfront.amazonaws.com' },
            Action: 's3:GetObject',
            Resource: Match.anyValue(),
            Condition: {
              StringEquals: { 'AWS:SourceAccount': ACCOUNT },
              ArnLike: {
                'AWS:SourceArn': {
                  'Fn::Join': [
                    '',
                    ['arn:', { Ref: 'AWS::Partition' }, `:cloudfront::${ACCOUNT}:distribution/*`],
                  ],
                },
              },
            },
          },
        ]),
      },
    });
    // Only the edge stack's deployment invalidates the distribution (the replica cannot name it).
    replicaTemplate.hasResourceProperties('Custom::CDKBucketDeployment', { DistributionId: Match.absent() });
    edgeTemplate.hasResourceProperties('Custom::CDKBucketDeployment', {
      DistributionId: { Ref: Match.stringLikeRegexp('^Distribution') },
      DistributionPaths: ['/*'],
    });
  });
});

describe('the distribution', () => {
  const distribution = () =>
    Object.values(resourcesOf(edgeJson, 'AWS::CloudFront::Distribution'))[0]!.Properties!
      .DistributionConfig as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

  test('serves the domain with the us-east-1 certificate, TLS 1.2 (2021) at least, SNI', () => {
    expect(distribution().Aliases).toEqual([DOMAIN]);
    expect(distribution().ViewerCertificate).toEqual({
      AcmCertificateArn: { Ref: expect.stringMatching('^Certificate') },
      MinimumProtocolVersion: 'TLSv1.2_2021',
      SslSupportMethod: 'sni-only',
    });
    Template.fromJSON(edgeJson).hasResourceProperties('AWS::CertificateManager::Certificate', {
      DomainName: DOMAIN,
      ValidationMethod: 'DNS',
      DomainValidationOptions: [{ DomainName: DOMAIN, HostedZoneId: HOSTED_ZONE.hostedZoneId }],
    });
    // The certificate is in the edge stack (us-east-1) and nowhere else for the domain's CloudFront use.
    expect(edge.region).toBe('us-east-1');
  });

  test('takes the price class and the web ACL, and logs to its own bucket', () => {
    expect(distribution().PriceClass).toBe('PriceClass_All');
    expect(distribution().WebACLId).toEqual({ 'Fn::GetAtt': [expect.stringMatching('^WebAcl'), 'Arn'] });
    expect(distribution().Logging).toEqual({
      Bucket: { 'Fn::GetAtt': [expect.stringMatching('^DistributionLogs'), 'RegionalDomainName'] },
      Prefix: 'distribution/',
    });
    edgeTemplate.hasResourceProperties('AWS::S3::Bucket', {
      OwnershipControls: { Rules: [{ ObjectOwnership: 'ObjectWriter' }] },
      LoggingConfiguration: { LogFilePrefix: 'distribution-logs-bucket/' },
    });
  });

  test('serves static files from an origin group of the two buckets, both through origin access control', () => {
    const config = distribution();
    const origins = config.Origins as { Id: string; DomainName: unknown; OriginAccessControlId?: unknown }[];
    const [group] = config.OriginGroups.Items as {
      Id: string;
      FailoverCriteria: { StatusCodes: { Items: number[] } };
      Members: { Items: { OriginId: string }[] };
    }[];
    expect(config.OriginGroups.Quantity).toBe(1);
    expect([...group!.FailoverCriteria.StatusCodes.Items].sort()).toEqual(
      [...STOREFRONT_FAILOVER_STATUS_CODES].sort(),
    );
    const members = group!.Members.Items.map((member) =>
      origins.find((origin) => origin.Id === member.OriginId)!,
    );
    expect(members).toHaveLength(2);
    expect(members[0]!.DomainName).toEqual({
      'Fn::GetAtt': [expect.stringMatching('^Storefront'), 'RegionalDomainName'],
    });
    expect(members[1]!.DomainName).toBe(`shop-storefront-${ACCOUNT}-eu-west-1.s3.eu-west-1.amazonaws.com`);
    for (const member of members) {
      expect(member.OriginAccessControlId).toEqual({
        'Fn::GetAtt': [expect.stringMatching('^OriginAccessControl'), 'Id'],
      });
    }
    expect(config.DefaultCacheBehavior).toMatchObject({
      TargetOriginId: group!.Id,
      AllowedMethods: ['GET', 'HEAD', 'OPTIONS'],
      CachePolicyId: CACHING_OPTIMIZED,
      ViewerProtocolPolicy: 'redirect-to-https',
    });
    expect(config.DefaultRootObject).toBe('index.html');
  });

  test('sends /api/* uncached, every method, without the Host header, over HTTPS to api.<domain> via the function', () => {
    const config = distribution();
    const api = (config.CacheBehaviors as Record<string, any>[]).find((b) => b.PathPattern === '/api/*')!; // eslint-disable-line @typescript-eslint/no-explicit-any
    const origin = (config.Origins as Record<string, any>[]).find((o) => o.Id === api.TargetOriginId)!; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(origin.DomainName).toBe(`api.${DOMAIN}`);
    expect(origin.CustomOriginConfig).toMatchObject({
      OriginProtocolPolicy: 'https-only',
      OriginSSLProtocols: ['TLSv1.2'],
    });
    expect(api).toMatchObject({
      AllowedMethods: ['GET', 'HEAD', 'OPTIONS', 'PUT', 'PATCH', 'POST', 'DELETE'],
      CachePolicyId: CACHING_DISABLED,
      OriginRequestPolicyId: ALL_VIEWER_EXCEPT_HOST_HEADER,
      ViewerProtocolPolicy: 'https-only',
      FunctionAssociations: [
        {
          EventType: 'viewer-request',
          FunctionARN: { 'Fn::GetAtt': [expect.stringMatching('^ApiOriginFunction'), 'FunctionARN'] },
        },
      ],
    });
    // The function is the generated one (lib/edge/api-origin.js + lib/config/global-routing.ts), runtime 2.0.
    edgeTemplate.hasResourceProperties('AWS::CloudFront::Function', {
      Name: 'shop-api-origin',
      AutoPublish: true,
      FunctionConfig: { Runtime: 'cloudfront-js-2.0', Comment: Match.anyValue() },
      FunctionCode: apiOriginFunctionCode({ homeRegion: 'us-east-1', domainName: DOMAIN }),
    });
  });
});

describe('the web ACL', () => {
  test('is CLOUDFRONT-scoped with the managed rule groups and the per-IP rate rule (default 2000 / 5 min)', () => {
    edgeTemplate.resourceCountIs('AWS::WAFv2::WebACL', 1);
    edgeTemplate.hasResourceProperties('AWS::WAFv2::WebACL', {
      Scope: 'CLOUDFRONT',
      DefaultAction: { Allow: {} },
      Rules: [
        Match.objectLike({
          Name: 'AWSManagedRulesCommonRuleSet',
          Priority: 0,
          OverrideAction: { None: {} },
          Statement: {
            ManagedRuleGroupStatement: { VendorName: 'AWS', Name: 'AWSManagedRulesCommonRuleSet' },
          },
        }),
        Match.objectLike({
          Priority: 1,
          Statement: {
            ManagedRuleGroupStatement: { VendorName: 'AWS', Name: 'AWSManagedRulesKnownBadInputsRuleSet' },
          },
        }),
        Match.objectLike({
          Priority: 2,
          Statement: {
            ManagedRuleGroupStatement: { VendorName: 'AWS', Name: 'AWSManagedRulesAmazonIpReputationList' },
          },
        }),
        Match.objectLike({
          Name: 'RateLimitPerIp',
          Priority: 3,
          Action: { Block: {} },
          Statement: {
            RateBasedStatement: { Limit: 2000, AggregateKeyType: 'IP', EvaluationWindowSec: 300 },
          },
        }),
      ],
    });
  });
});

describe('the records of the domain', () => {
  /** Every A/AAAA record named `name` in the app's templates, by stack. */
  function recordsNamed(name: string) {
    return stage.app.node
      .findAll()
      .filter(Stack.isStack)
      .flatMap((stack) =>
        Object.values(resourcesOf(templateOf(stage.assembly, stack), 'AWS::Route53::RecordSet'))
          .filter((record) => record.Properties?.Name === name)
          .map((record) => ({ stack: stack.stackName, region: stack.region, type: record.Properties?.Type })),
      );
  }

  test('the edge stack publishes the distribution as edge.<domain>, A and AAAA', () => {
    for (const type of ['A', 'AAAA']) {
      edgeTemplate.hasResourceProperties('AWS::Route53::RecordSet', {
        Name: `edge.${DOMAIN}.`,
        Type: type,
        HostedZoneId: HOSTED_ZONE.hostedZoneId,
        AliasTarget: {
          DNSName: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Distribution'), 'DomainName'] },
          HostedZoneId: { 'Fn::FindInMap': Match.anyValue() },
        },
      });
    }
    expect(JSON.stringify(edgeJson)).toContain(CLOUDFRONT_ZONE_ID);
  });

  test("the home service stack's record of the domain (same logical id) and a new AAAA alias edge.<domain>", () => {
    for (const type of ['A', 'AAAA']) {
      serviceTemplate.hasResourceProperties('AWS::Route53::RecordSet', {
        Name: `${DOMAIN}.`,
        Type: type,
        AliasTarget: {
          DNSName: `edge.${DOMAIN}`,
          HostedZoneId: HOSTED_ZONE.hostedZoneId,
          EvaluateTargetHealth: false,
        },
      });
    }
    // The A record is the one stage 1m created (an update in place, not a new record).
    expect(Object.keys(resourcesOf(stage.json.service, 'AWS::Route53::RecordSet'))).toContainEqual(
      expect.stringMatching(/^ShopAliasRecord/),
    );
  });

  test('each record of the domain and of edge.<domain> has exactly one owning stack', () => {
    expect(recordsNamed(`${DOMAIN}.`)).toEqual([
      { stack: 'shop-service', region: 'us-east-1', type: 'A' },
      { stack: 'shop-service', region: 'us-east-1', type: 'AAAA' },
    ]);
    expect(recordsNamed(`edge.${DOMAIN}.`)).toEqual([
      { stack: 'shop-edge', region: 'us-east-1', type: 'A' },
      { stack: 'shop-edge', region: 'us-east-1', type: 'AAAA' },
    ]);
  });
});

describe('references between stacks', () => {
  test('no CDK cross-region reference anywhere in the app (no export readers or writers)', () => {
    const stacks = stage.app.node.findAll().filter(Stack.isStack);
    for (const stack of stacks) {
      const types = Object.values(resourcesOf(templateOf(stage.assembly, stack))).map((r) => r.Type);
      expect([stack.stackName, types.filter((type) => /CrossRegion/i.test(type))]).toEqual([
        stack.stackName,
        [],
      ]);
    }
  });

  test('the edge stacks import and export nothing (names, not references)', () => {
    for (const json of [edgeJson, replicaJson]) {
      expect(JSON.stringify(json)).not.toContain('Fn::ImportValue');
      const outputs = Object.values((json.Outputs ?? {}) as Record<string, { Export?: unknown }>);
      expect(outputs.filter((output) => output.Export !== undefined)).toEqual([]);
    }
    expect(JSON.stringify(stage.json.service)).not.toMatch(/ShopEdge|shop-edge/);
  });
});
