/**
 * The edge of stage global: CloudFront in front of the static storefront (S3, with a failover copy in a second
 * region) and of the API (`/api/*`, to the Route 53-routed API hostname), WAF on the distribution, and the
 * certificate for the domain. CloudFront reads its certificate and its web ACL from us-east-1 only, so the edge
 * stack lives there whatever the home region; the failover copy lives in a small stack of its own region.
 *
 * No CDK cross-region reference joins these stacks: the edge stack names the replica bucket by its deterministic
 * name (`storefrontBucketName`), the replica stack admits CloudFront by account (not by the distribution's id, which
 * only the edge stack knows), and the home region's record of the domain aliases `edgeHostname(domainName)` in the
 * same hosted zone (a name, not the distribution's generated `*.cloudfront.net` name).
 */
import {
  Annotations,
  Aws,
  CfnOutput,
  Duration,
  RemovalPolicy,
  Stack,
  Validations,
  type StackProps,
} from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as targets from 'aws-cdk-lib/aws-route53-targets';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import type { Construct } from 'constructs';
import { ACCESS_LOGS_DEFAULTS } from '../config/defaults';
import { apiHostname } from '../config/global-routing';
import type { EdgeConfig } from '../config/stage-config';
import { cloudFrontReadStatement, EdgeStorefrontBucket } from '../constructs/edge-storefront-bucket';
import { apiOriginFunctionCode } from '../edge/api-origin-function';
import { EDGE_REGION, edgeHostname, storefrontBucketName } from '../edge/names';

/** Defaults of {@link EdgeConfig}. */
export const EDGE_DEFAULTS = {
  priceClass: 'PriceClass_All',
  rateLimitPerFiveMinutes: 2000,
} as const satisfies Required<EdgeConfig>;

/**
 * Status codes on which the storefront's origin group asks the failover bucket: the 5xx S3 answers when a region is
 * impaired, and 403/404 (with origin access control and no `s3:ListBucket`, S3 answers a missing object with 403)
 * for a primary bucket that lost or has not yet received a file.
 */
export const STOREFRONT_FAILOVER_STATUS_CODES = [403, 404, 500, 502, 503, 504] as const;

/** The AWS managed rule groups on the web ACL, in priority order. */
export const EDGE_MANAGED_RULE_GROUPS = [
  'AWSManagedRulesCommonRuleSet',
  'AWSManagedRulesKnownBadInputsRuleSet',
  'AWSManagedRulesAmazonIpReputationList',
] as const;

/** Properties shared by the edge stacks. */
interface EdgeCommonProps extends StackProps {
  /** Account and region of the stack. */
  readonly env: { readonly account: string; readonly region: string };
  /** Prefix of stack names and physical names. */
  readonly prefix: string;
}

/** Properties of {@link EdgeReplicaStack}. */
export type EdgeReplicaStackProps = EdgeCommonProps;

/**
 * The storefront's failover copy (`<prefix>-edge-replica`): a bucket in a second region with the same files,
 * readable by CloudFront of this account only.
 */
export class EdgeReplicaStack extends Stack {
  /** The bucket and its deployment. */
  public readonly storefront: EdgeStorefrontBucket;

  constructor(scope: Construct, id: string, props: EdgeReplicaStackProps) {
    super(scope, id, props);
    const { account, region } = props.env;
    this.storefront = new EdgeStorefrontBucket(this, 'Storefront', {
      bucketName: storefrontBucketName(props.prefix, account, region),
    });
    this.storefront.deployFiles();
    // The distribution's id is known only in the edge stack (us-east-1): naming it here would take a cross-region
    // reference (README "Stage global: the edge"). CloudFront of this account, any distribution, may read the
    // files; they are the public storefront every visitor downloads, and nothing may write.
    this.storefront.bucket.addToResourcePolicy(
      cloudFrontReadStatement(this.storefront.bucket, {
        StringEquals: { 'AWS:SourceAccount': account },
        ArnLike: { 'AWS:SourceArn': `arn:${Aws.PARTITION}:cloudfront::${account}:distribution/*` },
      }),
    );
  }
}

/** Properties of {@link EdgeStack}. */
export interface EdgeStackProps extends EdgeCommonProps {
  /** The stage's edge settings. */
  readonly config: EdgeConfig;
  /** The shop's domain name (served by the distribution; the certificate's name). */
  readonly domainName: string;
  /** Public hosted zone of `domainName` (certificate validation and the edge's records). */
  readonly hostedZone: { readonly hostedZoneId: string; readonly zoneName: string };
  /** The writer region (the home region unless `-c writerRegion` moved the writers): writes and pinned viewers go to its API hostname. */
  readonly homeRegion: string;
  /** Region of the storefront's failover copy ({@link EdgeReplicaStack}). */
  readonly replicaRegion: string;
}

/**
 * The edge (`<prefix>-edge`, us-east-1): the storefront bucket and the distribution in front of it and of the API,
 * the WAF web ACL, the certificate for `domainName` and the records of `edgeHostname(domainName)`.
 */
export class EdgeStack extends Stack {
  /** The storefront's primary bucket. */
  public readonly storefront: EdgeStorefrontBucket;
  /** The distribution. */
  public readonly distribution: cloudfront.Distribution;
  /** The web ACL on the distribution. */
  public readonly webAcl: wafv2.CfnWebACL;
  /** The certificate for `domainName` (us-east-1, as CloudFront requires). */
  public readonly certificate: acm.Certificate;
  /** The viewer-request function of `/api/*` (routes writes and pinned viewers home). */
  public readonly apiOriginFunction: cloudfront.Function;
  /** The bucket of the distribution's access logs. */
  public readonly logsBucket: s3.Bucket;
  /** The name the home region's record of `domainName` aliases (A and AAAA records to the distribution). */
  public readonly edgeHostname: string;

  constructor(scope: Construct, id: string, props: EdgeStackProps) {
    super(scope, id, props);
    const { account, region } = props.env;
    const problems: string[] = [];
    if (region !== EDGE_REGION) {
      problems.push(`env.region is ${region}: CloudFront's certificate and web ACL live in ${EDGE_REGION}`);
    }
    if (props.replicaRegion === region) {
      problems.push(
        `replicaRegion is ${region}: the failover copy must be in another region than the primary`,
      );
    }
    const rateLimit = props.config.rateLimitPerFiveMinutes ?? EDGE_DEFAULTS.rateLimitPerFiveMinutes;
    // WAF's limits for a rate-based rule's 5-minute window.
    if (!Number.isInteger(rateLimit) || rateLimit < 10 || rateLimit > 2_000_000_000) {
      problems.push(
        `global.edge.rateLimitPerFiveMinutes is ${rateLimit}: pass a whole number from 10 to 2000000000 ` +
          `(requests from one IP per 5 minutes), or leave it out for ${EDGE_DEFAULTS.rateLimitPerFiveMinutes}`,
      );
    }
    if (problems.length > 0) throw new Error(`EdgeStack: ${problems.join('; ')}`);

    const zone = route53.HostedZone.fromHostedZoneAttributes(this, 'HostedZone', props.hostedZone);
    // CloudFront takes certificates from us-east-1 only; this stack is there, so no cross-region reference.
    this.certificate = new acm.Certificate(this, 'Certificate', {
      domainName: props.domainName,
      validation: acm.CertificateValidation.fromDns(zone),
    });

    this.storefront = new EdgeStorefrontBucket(this, 'Storefront', {
      bucketName: storefrontBucketName(props.prefix, account, region),
    });
    this.logsBucket = this.distributionLogsBucket();
    this.webAcl = this.webAclOf(props.prefix, rateLimit);
    this.apiOriginFunction = new cloudfront.Function(this, 'ApiOriginFunction', {
      functionName: `${props.prefix}-api-origin`,
      comment:
        'Routes writes and home-pinned viewers of /api/* to the home region (lib/config/global-routing.ts)',
      runtime: cloudfront.FunctionRuntime.JS_2_0,
      code: cloudfront.FunctionCode.fromInline(
        apiOriginFunctionCode({ homeRegion: props.homeRegion, domainName: props.domainName }),
      ),
    });

    // One origin access control for both buckets: it only says "sign requests to S3 with SigV4".
    const originAccessControl = new cloudfront.S3OriginAccessControl(this, 'OriginAccessControl', {
      description: 'CloudFront reads the storefront buckets',
    });
    const replicaBucket = s3.Bucket.fromBucketAttributes(this, 'ReplicaBucket', {
      bucketName: storefrontBucketName(props.prefix, account, props.replicaRegion),
      region: props.replicaRegion,
    });
    const storefrontOrigin = new origins.OriginGroup({
      primaryOrigin: origins.S3BucketOrigin.withOriginAccessControl(this.storefront.bucket, {
        originAccessControl,
      }),
      fallbackOrigin: origins.S3BucketOrigin.withOriginAccessControl(replicaBucket, { originAccessControl }),
      fallbackStatusCodes: [...STOREFRONT_FAILOVER_STATUS_CODES],
    });
    const apiOrigin = new origins.HttpOrigin(apiHostname(props.domainName), {
      protocolPolicy: cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
      originSslProtocols: [cloudfront.OriginSslPolicy.TLS_V1_2],
    });

    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: `${props.prefix}: storefront (S3) and /api/* (${apiHostname(props.domainName)})`,
      domainNames: [props.domainName],
      certificate: this.certificate,
      minimumProtocolVersion: cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
      sslSupportMethod: cloudfront.SSLMethod.SNI,
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      // The enum's values are CloudFormation's names, which the config uses.
      priceClass: (props.config.priceClass ?? EDGE_DEFAULTS.priceClass) as cloudfront.PriceClass,
      webAclId: this.webAcl.attrArn,
      enableLogging: true,
      logBucket: this.logsBucket,
      logFilePrefix: 'distribution/',
      defaultRootObject: 'index.html',
      // Static files only: origin groups fail over for GET, HEAD and OPTIONS, which is all this behaviour allows.
      defaultBehavior: {
        origin: storefrontOrigin,
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD_OPTIONS,
        cachedMethods: cloudfront.CachedMethods.CACHE_GET_HEAD_OPTIONS,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: cloudfront.ResponseHeadersPolicy.SECURITY_HEADERS,
        compress: true,
      },
      additionalBehaviors: {
        // The API: never cached, every method, the viewer's headers, cookies and query strings but not its Host
        // (the origin's name is the Host and SNI, which the regional custom domains serve).
        '/api/*': {
          origin: apiOrigin,
          // A redirect would turn a POST into a GET: plain HTTP is refused instead.
          viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
          allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
          cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
          originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
          functionAssociations: [
            { function: this.apiOriginFunction, eventType: cloudfront.FunctionEventType.VIEWER_REQUEST },
          ],
        },
      },
    });
    Validations.of(this.distribution).acknowledge({
      id: 'AwsSolutions-CFR1',
      reason:
        'A worldwide shop sells to every country it ships to; no country is excluded at the edge. Where residency ' +
        'matters, Route 53 geolocation (the routing stack) decides the region, not a CloudFront block list.',
    });
    Annotations.of(this.distribution).acknowledgeWarning(
      '@aws-cdk/aws-cloudfront-origins:updateImportedBucketPolicyOac',
      `The failover bucket's policy (${props.replicaRegion}) is written by its own stack, EdgeReplicaStack.`,
    );
    this.storefront.deployFiles(this.distribution);

    // The distribution's own name for the home region's record of the domain to alias (same zone: no reference).
    this.edgeHostname = edgeHostname(props.domainName);
    const target = route53.RecordTarget.fromAlias(new targets.CloudFrontTarget(this.distribution));
    new route53.ARecord(this, 'EdgeRecord', {
      zone,
      recordName: this.edgeHostname,
      target,
      comment: `The distribution; ${props.domainName} aliases this name (home region service stack)`,
    });
    new route53.AaaaRecord(this, 'EdgeRecordIpv6', {
      zone,
      recordName: this.edgeHostname,
      target,
      comment: `The distribution; ${props.domainName} aliases this name (home region service stack)`,
    });

    new CfnOutput(this, 'DistributionDomainName', {
      value: this.distribution.distributionDomainName,
      description: 'The distribution (test it before the cut-over: curl --connect-to ...)',
    });
    new CfnOutput(this, 'DistributionId', { value: this.distribution.distributionId });
    new CfnOutput(this, 'EdgeHostname', {
      value: this.edgeHostname,
      description: `The name ${props.domainName} aliases after the cut-over (docs/upgrades/1m-to-global-edge.md)`,
    });
  }

  /**
   * The distribution's standard logs. CloudFront's standard log delivery writes with ACLs, so this bucket keeps
   * object ACLs (object writer); public access stays blocked and its own server access logs go to the storefront's
   * access-log bucket.
   */
  private distributionLogsBucket(): s3.Bucket {
    const bucket = new s3.Bucket(this, 'DistributionLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.OBJECT_WRITER,
      lifecycleRules: [{ expiration: ACCESS_LOGS_DEFAULTS.expiration }],
      serverAccessLogsBucket: this.storefront.accessLogs.bucket,
      serverAccessLogsPrefix: 'distribution-logs-bucket/',
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(bucket).acknowledge({
      id: 'cdk-validator-cfnguard::s3_bucket_default_encryption_kms_check',
      reason:
        "CloudFront's standard log delivery writes to SSE-S3 buckets (SSE-KMS would need the log delivery " +
        'account in a key policy); the logs hold request lines, no secrets.',
    });
    return bucket;
  }

  /** The web ACL: AWS managed rule groups (count nothing, block what they match) and a per-IP rate limit. */
  private webAclOf(prefix: string, rateLimit: number): wafv2.CfnWebACL {
    const visibility = (metricName: string): wafv2.CfnWebACL.VisibilityConfigProperty => ({
      cloudWatchMetricsEnabled: true,
      sampledRequestsEnabled: true,
      metricName,
    });
    const managed: wafv2.CfnWebACL.RuleProperty[] = EDGE_MANAGED_RULE_GROUPS.map((name, priority) => ({
      name,
      priority,
      overrideAction: { none: {} },
      statement: { managedRuleGroupStatement: { vendorName: 'AWS', name } },
      visibilityConfig: visibility(name),
    }));
    return new wafv2.CfnWebACL(this, 'WebAcl', {
      name: `${prefix}-edge`,
      description: 'Shop blueprint edge: AWS managed rules and a per-IP rate limit',
      scope: 'CLOUDFRONT',
      defaultAction: { allow: {} },
      visibilityConfig: visibility(`${prefix}-edge`),
      rules: [
        ...managed,
        {
          name: 'RateLimitPerIp',
          priority: managed.length,
          action: { block: {} },
          statement: {
            rateBasedStatement: {
              limit: rateLimit,
              evaluationWindowSec: Duration.minutes(5).toSeconds(),
              aggregateKeyType: 'IP',
            },
          },
          visibilityConfig: visibility('RateLimitPerIp'),
        },
      ],
    });
  }
}
