/**
 * Per-deployment settings read from CDK context (`-c key=value` or cdk.json), with defaults that let
 * synth run offline with no AWS credentials: account, region and availability zones are never looked up.
 */
import { Token } from 'aws-cdk-lib';
import { CURRENTLY_RECOMMENDED_FLAGS, DISABLE_METADATA_STACK_TRACE } from 'aws-cdk-lib/cx-api';

/** Context keys the blueprint reads (besides `stage`, which only `bin/` reads). */
export const CONTEXT_KEYS = {
  account: 'account',
  region: 'region',
  availabilityZones: 'availabilityZones',
  regions: 'regions',
  prefix: 'prefix',
  domainName: 'domainName',
  certificateArn: 'certificateArn',
  hostedZoneId: 'hostedZoneId',
  hostedZoneName: 'hostedZoneName',
  plainHttp: 'plainHttp',
  alarmEmail: 'alarmEmail',
  adminEmails: 'adminEmails',
  validate: 'validate',
  controlTowerRules: 'controlTowerRules',
  frontDoor: 'frontDoor',
  writerRegion: 'writerRegion',
} as const;

/**
 * What the domain's alias record points at (`-c frontDoor=...`): the cut-over switch of stages 1m and global. `alb`
 * is the public load balancer, `gateway` the API gateway's custom domain, `edge` the CloudFront distribution (stage
 * global, once every region's API hostnames and the routing stack are deployed).
 */
export const FRONT_DOORS = ['alb', 'gateway', 'edge'] as const;

/** A value of {@link FRONT_DOORS}. */
export type FrontDoor = (typeof FRONT_DOORS)[number];

/**
 * Defaults of the deployment context (the same values as cdk.json). The account is a placeholder no deployment
 * can reach (the CDK CLI refuses credentials of another account): a synth for it is for looking at templates.
 */
export const DEFAULT_DEPLOYMENT = {
  account: '123456789012',
  region: 'us-east-1',
  availabilityZones: ['us-east-1a', 'us-east-1b', 'us-east-1c'],
  prefix: 'shop',
} as const;

/**
 * The context an app gets when no cdk.json is around (jest, tools): the feature flags aws-cdk-lib
 * recommends today (identical to cdk.json's) plus the deployment defaults. Construct creation stack
 * traces are off, as the CDK CLI does unless `--debug` is given: recording one per construct is the
 * slowest part of building an app.
 */
export const DEFAULT_APP_CONTEXT: Readonly<Record<string, unknown>> = {
  ...CURRENTLY_RECOMMENDED_FLAGS,
  [DISABLE_METADATA_STACK_TRACE]: true,
  account: DEFAULT_DEPLOYMENT.account,
  region: DEFAULT_DEPLOYMENT.region,
  availabilityZones: [...DEFAULT_DEPLOYMENT.availabilityZones],
};

/** One region of a deployment. */
export interface RegionContext {
  /** Region code, e.g. `eu-west-1`. */
  readonly region: string;
  /** Availability zones of the region the VPC uses, pinned so synth needs no lookup. */
  readonly availabilityZones: readonly string[];
}

/** Resolved per-deployment settings. */
export interface DeploymentContext {
  /** AWS account id the stacks deploy to. */
  readonly account: string;
  /** Primary region. */
  readonly region: string;
  /** Availability zones of `region` the VPC uses, pinned so synth needs no lookup. */
  readonly availabilityZones: readonly string[];
  /**
   * Every region the stage is deployed to, the home region (`region`, `availabilityZones`) first. Further
   * regions come from `-c regions=us-east-1,eu-west-1`; their zones from `-c availabilityZones.<region>=...`
   * (default `<region>a`, `b`, `c`).
   */
  readonly regions: readonly RegionContext[];
  /** Lower-case prefix of stack names and physical names, so two deployments can share an account. */
  readonly prefix: string;
  /**
   * DNS name the app is served under (the alias record's name, with `hostedZone`; the certificate's name).
   * With `hostedZone` or `certificateArn`, turns HTTPS on.
   */
  readonly domainName?: string;
  /** ACM certificate for `domainName`, in `region` (bring your own). */
  readonly certificateArn?: string;
  /**
   * Public Route 53 hosted zone holding `domainName` (`-c hostedZoneId=Z0123... -c hostedZoneName=example.com`):
   * the blueprint creates a DNS-validated ACM certificate (unless `certificateArn` is given) and the alias
   * record to the load balancer. Not looked up: synth stays offline.
   */
  readonly hostedZone?: { readonly hostedZoneId: string; readonly zoneName: string };
  /**
   * Plain HTTP on purpose (`-c plainHttp=true`): no certificate, a session cookie that is not `Secure`, and
   * passwords in clear text. Without HTTPS settings, a deployment to a real account refuses to synthesise
   * unless this is set.
   */
  readonly plainHttp?: boolean;
  /** Address subscribed to the alarm topic. */
  readonly alarmEmail?: string;
  /** Comma-separated emails whose sign-ups become admins (the app's `ADMIN_EMAILS`). */
  readonly adminEmails?: string;
  /**
   * CDK's built-in CloudFormation validation of the synthesised templates (`-c validate=true|false`).
   *
   * @default - not set: the caller decides (see `createBlueprintApp`'s `cloudFormationValidation`)
   */
  readonly validate?: boolean;
  /**
   * Run the Control Tower proactive controls (cfn-guard) on the templates (`-c controlTowerRules=true`).
   *
   * @default - not set: the caller decides (see `createBlueprintApp`'s `controlTowerRules`)
   */
  readonly controlTowerRules?: boolean;
  /**
   * What the domain's alias record (in `hostedZone`) points at: the public load balancer (`alb`), or, after the
   * stage 1m cut-over (`-c frontDoor=gateway`), the API gateway's custom domain. Changing it updates the record in
   * place. Required when the stage has a gateway and the record is managed (`hostedZone`):
   * {@link frontDoorProblems}.
   *
   * @default - not set: the public load balancer (a stage without a gateway)
   */
  readonly frontDoor?: FrontDoor;
  /**
   * Where the writes go (`-c writerRegion=eu-west-1`, stage global): the region whose services write (the app's
   * `REGION_ROLE=home`, every region's `HOME_REGION`), the CloudFront function's home origin and the Route 53
   * default. Set after `npm run global -- switchover|failover --to <region>` moved the database and session
   * writers there; never read by the data and shard stacks, whose shape stays keyed on the first of `regions`.
   * Always one of `regions`.
   *
   * @default - the first of `regions` (`region`)
   */
  readonly writerRegion?: string;
}

/** A problem found in the configuration: the key, the value received and how to fix it. */
export interface ConfigProblem {
  /** Dotted path of the key, e.g. `service.autoscaling.minCapacity` or `context.region`. */
  readonly key: string;
  /** The value received, as the user wrote it. */
  readonly received: unknown;
  /** What to do instead. */
  readonly fix: string;
}

/** Reads a context value that may have been passed as a string (`-c key=value`). */
type ContextReader = (key: string) => unknown;

const ACCOUNT = /^\d{12}$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;
/** Usable in RDS, ElastiCache and proxy identifiers: no trailing or doubled hyphen. */
const PREFIX = /^(?=.{1,16}$)[a-z]([a-z0-9]|-(?!-))*(?<!-)$/;
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;
/** A Route 53 hosted zone id, e.g. `Z0123456789ABCDEFGHIJ` (without the `/hostedzone/` prefix). */
const HOSTED_ZONE_ID = /^Z[A-Z0-9]{1,31}$/;
const CERTIFICATE_ARN = /^arn:aws[a-z-]*:acm:([a-z0-9-]+):(\d{12}):certificate\/[A-Za-z0-9-]+$/;
const EMAIL = /^[^\s@,]+@[^\s@,]+\.[^\s@,]+$/;

function optionalString(value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  return typeof value === 'string' ? value.trim() : String(value);
}

/**
 * A boolean context value: `-c validate=true` arrives as the string `"true"`, cdk.json as a boolean.
 *
 * @returns the boolean, `undefined` when not set, or `null` when the value is neither
 */
export function parseBooleanContext(value: unknown): boolean | undefined | null {
  if (value === undefined || value === null || value === '') return undefined;
  if (value === true || value === false) return value;
  const text = String(value).trim().toLowerCase();
  if (text === 'true') return true;
  if (text === 'false') return false;
  return null;
}

/** `-c availabilityZones=a,b,c` and `-c availabilityZones='["a","b"]'` arrive as strings. */
function parseZones(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const text = value.trim();
  if (text.startsWith('[')) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return value;
    }
  }
  return text
    .split(',')
    .map((zone) => zone.trim())
    .filter((zone) => zone.length > 0);
}

/**
 * Reads and checks the deployment context. Problems are collected, not thrown, so that they can be
 * reported together with the stage configuration's.
 *
 * @param read - reads one context key (e.g. `app.node.tryGetContext`)
 * @param minZones - availability zones the stage needs
 */
export function readDeploymentContext(
  read: ContextReader,
  minZones: number,
): { context: DeploymentContext; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const problem = (key: string, received: unknown, fix: string) =>
    problems.push({ key: `context.${key}`, received, fix });

  const account = optionalString(read(CONTEXT_KEYS.account)) ?? DEFAULT_DEPLOYMENT.account;
  if (!Token.isUnresolved(account) && !ACCOUNT.test(account)) {
    problem('account', account, 'pass the 12-digit AWS account id, e.g. "-c account=123456789012"');
  }
  const region = optionalString(read(CONTEXT_KEYS.region)) ?? DEFAULT_DEPLOYMENT.region;
  if (!Token.isUnresolved(region) && !REGION.test(region)) {
    problem('region', region, 'pass a region code, e.g. "-c region=eu-west-1"');
  }

  const rawZones = read(CONTEXT_KEYS.availabilityZones);
  const zones = rawZones === undefined ? [...DEFAULT_DEPLOYMENT.availabilityZones] : parseZones(rawZones);
  let availabilityZones: string[] = [];
  if (!Array.isArray(zones) || zones.some((zone) => typeof zone !== 'string')) {
    problem(
      'availabilityZones',
      rawZones,
      `pass a list of zone names, e.g. -c availabilityZones=${region}a,${region}b,${region}c`,
    );
  } else {
    availabilityZones = zones as string[];
    const foreign = availabilityZones.filter((zone) => !zone.startsWith(region));
    if (foreign.length > 0) {
      problem(
        'availabilityZones',
        rawZones ?? availabilityZones,
        `every zone must be in region ${region} (${foreign.join(', ')} is not); ` +
          `pass e.g. -c availabilityZones=${region}a,${region}b,${region}c`,
      );
    } else if (new Set(availabilityZones).size !== availabilityZones.length) {
      problem('availabilityZones', rawZones, 'list each zone once');
    } else if (availabilityZones.length < minZones) {
      problem(
        'availabilityZones',
        rawZones ?? availabilityZones,
        `the stage spans ${minZones} zones (network.maxAzs); pass at least ${minZones} zones of ${region}`,
      );
    }
  }

  const regions: RegionContext[] = [{ region, availabilityZones }];
  const rawRegions = read(CONTEXT_KEYS.regions);
  if (rawRegions !== undefined && rawRegions !== null && rawRegions !== '') {
    const list = parseZones(rawRegions);
    if (!Array.isArray(list) || list.some((code) => typeof code !== 'string' || !REGION.test(code))) {
      problem(
        'regions',
        rawRegions,
        `pass a list of region codes, home first, e.g. -c regions=${region},eu-west-1`,
      );
    } else if (new Set(list).size !== list.length) {
      problem('regions', rawRegions, 'list each region once');
    } else if (list[0] !== region) {
      problem(
        'regions',
        rawRegions,
        `put the home region first (context.region is ${region}), e.g. -c regions=${region},...`,
      );
    } else {
      for (const code of (list as string[]).slice(1)) {
        const key = `${CONTEXT_KEYS.availabilityZones}.${code}`;
        const raw = read(key);
        const zones =
          raw === undefined ? ['a', 'b', 'c'].map((letter) => `${code}${letter}`) : parseZones(raw);
        if (
          !Array.isArray(zones) ||
          zones.some((zone) => typeof zone !== 'string' || !zone.startsWith(code)) ||
          new Set(zones).size !== zones.length ||
          zones.length < minZones
        ) {
          problem(
            key,
            raw,
            `pass at least ${minZones} distinct zones of ${code}, e.g. -c ${key}=${code}a,${code}b,${code}c`,
          );
        } else {
          regions.push({ region: code, availabilityZones: zones as string[] });
        }
      }
    }
  }

  const prefix = optionalString(read(CONTEXT_KEYS.prefix)) ?? DEFAULT_DEPLOYMENT.prefix;
  if (!PREFIX.test(prefix)) {
    problem(
      'prefix',
      prefix,
      'use 1-16 lower-case letters, digits and single dashes, starting with a letter and not ending with a dash',
    );
  }

  const domainName = optionalString(read(CONTEXT_KEYS.domainName));
  const certificateArn = optionalString(read(CONTEXT_KEYS.certificateArn));
  if (domainName !== undefined && !HOSTNAME.test(domainName)) {
    problem('domainName', domainName, 'pass a DNS name such as "shop.example.com"');
  }
  if (certificateArn !== undefined) {
    const match = CERTIFICATE_ARN.exec(certificateArn);
    if (!match) {
      problem(
        'certificateArn',
        certificateArn,
        'pass an ACM certificate ARN: arn:aws:acm:<region>:<account>:certificate/<id>',
      );
    } else if (match[1] !== region) {
      problem(
        'certificateArn',
        certificateArn,
        `an ALB needs a certificate from its own region (${region}); request or import one there`,
      );
    }
  }
  const hostedZoneId = optionalString(read(CONTEXT_KEYS.hostedZoneId));
  const rawZoneName = optionalString(read(CONTEXT_KEYS.hostedZoneName));
  const zoneName = rawZoneName?.replace(/\.$/, '').toLowerCase();
  if (hostedZoneId !== undefined && !HOSTED_ZONE_ID.test(hostedZoneId)) {
    problem(
      'hostedZoneId',
      hostedZoneId,
      'pass the id of a public Route 53 hosted zone, e.g. "-c hostedZoneId=Z0123456789ABCDEFGHIJ" ' +
        '(aws route53 list-hosted-zones-by-name --dns-name example.com), without "/hostedzone/"',
    );
  }
  if (zoneName !== undefined && !HOSTNAME.test(zoneName)) {
    problem(
      'hostedZoneName',
      rawZoneName,
      'pass the zone\'s domain name, e.g. "-c hostedZoneName=example.com"',
    );
  }
  if ((hostedZoneId === undefined) !== (zoneName === undefined)) {
    problem(
      hostedZoneId === undefined ? 'hostedZoneId' : 'hostedZoneName',
      undefined,
      'a hosted zone needs both "-c hostedZoneId=Z..." and "-c hostedZoneName=example.com" (no lookup: synth stays offline)',
    );
  }
  const hostedZone =
    hostedZoneId !== undefined && zoneName !== undefined ? { hostedZoneId, zoneName } : undefined;
  const https = hostedZone !== undefined || certificateArn !== undefined;
  if (https && domainName === undefined) {
    problem(
      'domainName',
      undefined,
      `HTTPS needs the name to serve: pass "-c domainName=shop.${zoneName ?? 'example.com'}"` +
        (hostedZone !== undefined
          ? ' (a name in the hosted zone; the blueprint creates its alias record)'
          : ''),
    );
  }
  if (domainName !== undefined && !https) {
    problem(
      'domainName',
      domainName,
      'HTTPS needs a certificate: add "-c hostedZoneId=Z... -c hostedZoneName=<zone>" (the blueprint creates a ' +
        'DNS-validated certificate and the alias record) or "-c certificateArn=arn:aws:acm:..." (your own)',
    );
  }
  if (
    hostedZone !== undefined &&
    domainName !== undefined &&
    HOSTNAME.test(domainName) &&
    HOSTNAME.test(hostedZone.zoneName) &&
    !`.${domainName.toLowerCase()}`.endsWith(`.${hostedZone.zoneName}`)
  ) {
    problem(
      'domainName',
      domainName,
      `the alias record must be in the hosted zone ${hostedZone.zoneName}: pass e.g. "-c domainName=shop.${hostedZone.zoneName}"`,
    );
  }

  const plainHttp = parseBooleanContext(read(CONTEXT_KEYS.plainHttp));
  if (plainHttp === null) {
    problem(
      'plainHttp',
      read(CONTEXT_KEYS.plainHttp),
      'pass "-c plainHttp=true" to serve plain HTTP on purpose, or leave it out',
    );
  } else if (plainHttp === true && https) {
    problem(
      'plainHttp',
      true,
      'choose one: leave out "-c plainHttp=true" to serve HTTPS with the certificate settings given, or drop those',
    );
  } else if (
    plainHttp !== true &&
    !https &&
    domainName === undefined &&
    account !== DEFAULT_DEPLOYMENT.account &&
    ACCOUNT.test(account)
  ) {
    // The placeholder account (cdk.json's default) can never be deployed to: the CLI refuses credentials of any
    // other account. Synthesising for it is for looking at the templates; for a real account it is a deployment.
    problem(
      'plainHttp',
      undefined,
      `a deployment to account ${account} needs HTTPS, or plain HTTP on purpose: pass ` +
        '"-c hostedZoneId=Z... -c hostedZoneName=example.com -c domainName=shop.example.com" (certificate and DNS ' +
        'record made for you), or "-c domainName=shop.example.com -c certificateArn=arn:aws:acm:..." (your ' +
        'certificate), or "-c plainHttp=true" (session cookie not Secure: passwords and sessions in clear text)',
    );
  }

  const alarmEmail = optionalString(read(CONTEXT_KEYS.alarmEmail));
  if (alarmEmail !== undefined && !EMAIL.test(alarmEmail)) {
    problem('alarmEmail', alarmEmail, 'pass one email address, e.g. "-c alarmEmail=oncall@example.com"');
  }
  const adminEmails = optionalString(read(CONTEXT_KEYS.adminEmails));
  if (adminEmails !== undefined) {
    const bad = adminEmails.split(',').filter((email) => !EMAIL.test(email.trim()));
    if (bad.length > 0) {
      problem(
        'adminEmails',
        adminEmails,
        'pass comma-separated email addresses, e.g. "a@example.com,b@example.com"',
      );
    }
  }

  const validate = parseBooleanContext(read(CONTEXT_KEYS.validate));
  if (validate === null) {
    problem(
      'validate',
      read(CONTEXT_KEYS.validate),
      'pass "-c validate=true" to run CDK\'s CloudFormation validation, "-c validate=false" (or nothing) to skip it',
    );
  }

  const controlTowerRules = parseBooleanContext(read(CONTEXT_KEYS.controlTowerRules));
  if (controlTowerRules === null) {
    problem(
      'controlTowerRules',
      read(CONTEXT_KEYS.controlTowerRules),
      'pass "-c controlTowerRules=true" to run the Control Tower proactive controls (cfn-guard), or leave it out',
    );
  }

  const frontDoorValue = read(CONTEXT_KEYS.frontDoor);
  const frontDoor = FRONT_DOORS.find((door) => door === frontDoorValue);
  if (frontDoorValue !== undefined && frontDoor === undefined) {
    problem(
      'frontDoor',
      frontDoorValue,
      `pass "-c frontDoor=gateway" (after the stage 1m cut-over checks), "-c frontDoor=alb" (the public load ` +
        'balancer) or, in stage global, "-c frontDoor=edge" (CloudFront), and keep it in cdk.json\'s "context"',
    );
  }

  const writerRegion = optionalString(read(CONTEXT_KEYS.writerRegion));
  const regionCodes = regions.map((entry) => entry.region);
  if (writerRegion !== undefined && !regionCodes.includes(writerRegion)) {
    problem(
      CONTEXT_KEYS.writerRegion,
      writerRegion,
      `name one of the deployment's regions (${regionCodes.join(', ')}): the region the writers were moved to by ` +
        '"npm run global -- switchover|failover --to <region>", e.g. "-c writerRegion=' +
        `${regionCodes[1] ?? regionCodes[0]}"; leave it out (or pass the first region) when the writers are home`,
    );
  }

  return {
    context: {
      account,
      region,
      availabilityZones,
      regions,
      prefix,
      ...(domainName !== undefined ? { domainName } : {}),
      ...(certificateArn !== undefined ? { certificateArn } : {}),
      ...(hostedZone !== undefined ? { hostedZone } : {}),
      ...(plainHttp === true ? { plainHttp } : {}),
      ...(alarmEmail !== undefined ? { alarmEmail } : {}),
      ...(adminEmails !== undefined ? { adminEmails } : {}),
      ...(typeof validate === 'boolean' ? { validate } : {}),
      ...(typeof controlTowerRules === 'boolean' ? { controlTowerRules } : {}),
      ...(frontDoor !== undefined ? { frontDoor } : {}),
      ...(writerRegion !== undefined && regionCodes.includes(writerRegion) ? { writerRegion } : {}),
    },
    problems,
  };
}

/**
 * The front door must be chosen explicitly where a deploy could move it: a stage with an API gateway whose
 * domain's alias record the blueprint manages (a hosted zone). Otherwise a later `cdk deploy` without
 * `-c frontDoor=gateway` would point the record back at the public load balancer, silently undoing the cut-over.
 *
 * @param hasGateway - whether the stage has an API gateway (`gateway` in the stage config)
 */
export function frontDoorProblems(context: DeploymentContext, hasGateway: boolean): ConfigProblem[] {
  if (!hasGateway || context.hostedZone === undefined || context.frontDoor !== undefined) return [];
  return [
    {
      key: `context.${CONTEXT_KEYS.frontDoor}`,
      received: undefined,
      fix:
        'this stage has an API gateway and the blueprint manages the alias record of the domain: choose what it ' +
        'points at, "-c frontDoor=alb" (the public load balancer: before and during the cut-over) or ' +
        '"-c frontDoor=gateway" (after it), and after the cut-over write "frontDoor": "gateway" into cdk.json\'s ' +
        '"context" so that no later deploy points the record back at the load balancer',
    },
  ];
}
