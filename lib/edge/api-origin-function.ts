/**
 * The source of the `/api/*` CloudFront Function: lib/edge/api-origin.js with the routing table of
 * lib/config/global-routing.ts filled in, so that the function can never disagree with Route 53 or the local
 * geo router about which requests go home.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HOME_PIN_COOKIE, REGIONAL_METHODS, regionalApiHostname } from '../config/global-routing';

/** Placeholder in lib/edge/api-origin.js that {@link apiOriginFunctionCode} replaces. */
export const ROUTING_PLACEHOLDER = '__ROUTING__';

/** CloudFront Functions' limit on a function's code (bytes). */
export const FUNCTION_CODE_MAX_BYTES = 10_240;

/** The values the function routes by. */
export interface ApiOriginRouting {
  /** Methods a region other than the home region serves (`REGIONAL_METHODS`). */
  readonly regionalMethods: readonly string[];
  /** Cookie that pins a viewer to the home region (`HOME_PIN_COOKIE`). */
  readonly homePinCookie: string;
  /** The home region's own API hostname (`regionalApiHostname(home, domainName)`). */
  readonly homeOrigin: string;
}

/** Properties of {@link apiOriginFunctionCode}. */
export interface ApiOriginFunctionProps {
  /** The home region (writes go there). */
  readonly homeRegion: string;
  /** The shop's domain name (the API hostnames are derived from it). */
  readonly domainName: string;
}

/** The routing table of the function, from lib/config/global-routing.ts. */
export function apiOriginRouting(props: ApiOriginFunctionProps): ApiOriginRouting {
  return {
    regionalMethods: [...REGIONAL_METHODS],
    homePinCookie: HOME_PIN_COOKIE,
    homeOrigin: regionalApiHostname(props.homeRegion, props.domainName),
  };
}

/**
 * The function's code (cloudfront-js-2.0, `import cf from 'cloudfront'` on the first line as origin modification
 * requires).
 *
 * @throws Error when the template lost its placeholder or the code outgrows CloudFront's 10 KB limit
 */
export function apiOriginFunctionCode(props: ApiOriginFunctionProps): string {
  const template = readFileSync(join(__dirname, 'api-origin.js'), 'utf8');
  const parts = template.split(ROUTING_PLACEHOLDER);
  if (parts.length !== 2) {
    throw new Error(
      `lib/edge/api-origin.js must contain ${ROUTING_PLACEHOLDER} exactly once (found ${parts.length - 1}): ` +
        'it is where the routing table of lib/config/global-routing.ts goes',
    );
  }
  const code = parts.join(JSON.stringify(apiOriginRouting(props)));
  const bytes = Buffer.byteLength(code, 'utf8');
  if (bytes > FUNCTION_CODE_MAX_BYTES) {
    throw new Error(
      `the /api/* CloudFront Function is ${bytes} bytes, over CloudFront's ${FUNCTION_CODE_MAX_BYTES}: ` +
        'shorten lib/edge/api-origin.js',
    );
  }
  return code;
}
