import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as targets from 'aws-cdk-lib/aws-route53-targets';
import { Construct } from 'constructs';
import { apiHostname, regionalApiHostname } from '../config/global-routing';
import type { HostedZoneReference } from './service-platform';

/** Properties of {@link RegionalApiDomain}. */
export interface RegionalApiDomainProps {
  /** The region's HTTP API (the API gateway in front of its services). */
  readonly api: apigwv2.IHttpApi;
  /** The API's stage mapped to both custom domains (`$default`). */
  readonly stage: apigwv2.IHttpStage;
  /** The region this construct's stack deploys to (its code names the regional hostname). */
  readonly region: string;
  /** The shop's domain, e.g. `shop.example.com`: the hostnames are `api.<domainName>` and `api-<region>.<domainName>`. */
  readonly domainName: string;
  /** Public hosted zone holding `domainName`: the certificate is validated and the regional record written there. */
  readonly hostedZone: HostedZoneReference;
}

/**
 * The API hostnames a region serves (stage global), all in the region's own stack (no cross-region reference):
 *
 * - a regional ACM certificate for `api.<domainName>` and `api-<region>.<domainName>`, DNS-validated in the
 *   hosted zone;
 * - an API Gateway custom domain for each hostname, both mapped to the region's HTTP API: `api.<domainName>` is
 *   the name Route 53 routes among the regions (CloudFront's `/api/*` origin, so the requests arrive with that
 *   host), `api-<region>.<domainName>` the name that reaches this region only (health checks, the edge's
 *   pinning of writes to the home region, operators);
 * - the alias record `api-<region>.<domainName>` to the regional custom domain: the routing stack's failover,
 *   geolocation and latency records alias it by name (a deterministic name, not a reference).
 */
export class RegionalApiDomain extends Construct {
  /** The certificate covering both hostnames, in this region. */
  public readonly certificate: acm.Certificate;
  /** Custom domain `api.<domainName>` (the routed name). */
  public readonly apiDomainName: apigwv2.DomainName;
  /** Custom domain `api-<region>.<domainName>` (this region only). */
  public readonly regionalDomainName: apigwv2.DomainName;
  /** The alias record `api-<region>.<domainName>`. */
  public readonly regionalRecord: route53.ARecord;
  /** `api.<domainName>`. */
  public readonly apiHostname: string;
  /** `api-<region>.<domainName>`. */
  public readonly regionalHostname: string;

  constructor(scope: Construct, id: string, props: RegionalApiDomainProps) {
    super(scope, id);
    this.apiHostname = apiHostname(props.domainName);
    this.regionalHostname = regionalApiHostname(props.region, props.domainName);
    const zone = route53.HostedZone.fromHostedZoneAttributes(this, 'HostedZone', props.hostedZone);

    // CloudFormation waits until ACM has validated both names through the CNAMEs it writes into the zone.
    this.certificate = new acm.Certificate(this, 'Certificate', {
      domainName: this.apiHostname,
      subjectAlternativeNames: [this.regionalHostname],
      validation: acm.CertificateValidation.fromDns(zone),
    });
    const domain = (domainId: string, name: string) =>
      new apigwv2.DomainName(this, domainId, {
        domainName: name,
        certificate: this.certificate,
        securityPolicy: apigwv2.SecurityPolicy.TLS_1_2,
      });
    this.apiDomainName = domain('ApiDomainName', this.apiHostname);
    this.regionalDomainName = domain('RegionalDomainName', this.regionalHostname);
    for (const [mappingId, domainName] of [
      ['ApiMapping', this.apiDomainName],
      ['RegionalMapping', this.regionalDomainName],
    ] as const) {
      new apigwv2.ApiMapping(this, mappingId, { api: props.api, domainName, stage: props.stage });
    }
    this.regionalRecord = new route53.ARecord(this, 'RegionalRecord', {
      zone,
      recordName: this.regionalHostname,
      target: route53.RecordTarget.fromAlias(
        new targets.ApiGatewayv2DomainProperties(
          this.regionalDomainName.regionalDomainName,
          this.regionalDomainName.regionalHostedZoneId,
        ),
      ),
      comment: `The shop API in ${props.region} only (Route 53 health check target, home-region pinning)`,
    });
  }
}
