/**
 * The `/api/*` CloudFront Function, run as CloudFront runs it: the generated code (lib/edge/api-origin.js with the
 * routing table filled in) evaluated with a stub of the `cloudfront` module that records origin changes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HOME_PIN_COOKIE, REGIONAL_METHODS, regionalApiHostname } from '../../lib/config/global-routing';
import {
  apiOriginFunctionCode,
  apiOriginRouting,
  FUNCTION_CODE_MAX_BYTES,
  ROUTING_PLACEHOLDER,
} from '../../lib/edge/api-origin-function';

const HOME = 'us-east-1';
const DOMAIN = 'shop.example.com';
const IMPORT_LINE = "import cf from 'cloudfront';";

/** A viewer-request event as CloudFront Functions passes it (header and cookie names lower-case). */
function viewerRequest(method: string, cookies: Record<string, string> = {}) {
  return {
    version: '1.0',
    context: { eventType: 'viewer-request', distributionId: 'E2EXAMPLE', requestId: 'r-1' },
    viewer: { ip: '198.51.100.7' },
    request: {
      method,
      uri: '/api/products',
      querystring: {},
      headers: { host: { value: DOMAIN } },
      cookies: Object.fromEntries(Object.entries(cookies).map(([name, value]) => [name, { value }])),
    },
  };
}

type Handler = (event: ReturnType<typeof viewerRequest>) => unknown;

/**
 * Loads the generated function with `cf` bound to a stub: the import line (the module CloudFront provides) is the
 * only line replaced; everything else runs as written.
 */
function load(code: string): { handler: Handler; originUpdates: unknown[] } {
  const originUpdates: unknown[] = [];
  const stub = { updateRequestOrigin: (params: unknown) => void originUpdates.push(params) };
  expect(code.split('\n')[0]).toBe(IMPORT_LINE);
  const body = code.replace(IMPORT_LINE, '');
  const handler = new Function('cf', `${body}\nreturn handler;`)(stub) as Handler;
  return { handler, originUpdates };
}

describe('the /api/* CloudFront Function', () => {
  // GIVEN the code the edge stack deploys, for home us-east-1
  const code = apiOriginFunctionCode({ homeRegion: HOME, domainName: DOMAIN });
  const home = { domainName: regionalApiHostname(HOME, DOMAIN) };

  test('sends a POST to the home region', () => {
    const { handler, originUpdates } = load(code);
    const event = viewerRequest('POST');
    // WHEN
    const result = handler(event);
    // THEN
    expect(originUpdates).toEqual([home]);
    expect(result).toBe(event.request);
  });

  test.each(['PUT', 'PATCH', 'DELETE'])('sends a %s to the home region', (method) => {
    const { handler, originUpdates } = load(code);
    handler(viewerRequest(method));
    expect(originUpdates).toEqual([home]);
  });

  test('sends a GET carrying the home-pin cookie to the home region', () => {
    const { handler, originUpdates } = load(code);
    handler(viewerRequest('GET', { [HOME_PIN_COOKIE]: '1', sid: 'abc' }));
    expect(originUpdates).toEqual([home]);
  });

  test('leaves a GET without the cookie on the geo-routed origin (other cookies do not matter)', () => {
    const { handler, originUpdates } = load(code);
    const event = viewerRequest('GET', { sid: 'abc', [`${HOME_PIN_COOKIE}_x`]: '1' });
    const result = handler(event);
    expect(originUpdates).toEqual([]);
    expect(result).toBe(event.request);
    expect(event.request.headers).toEqual({ host: { value: DOMAIN } });
  });

  test.each(['HEAD', 'OPTIONS'])('leaves a %s without the cookie on the geo-routed origin', (method) => {
    const { handler, originUpdates } = load(code);
    handler(viewerRequest(method));
    expect(originUpdates).toEqual([]);
  });

  test('routes home exactly the methods lib/config/global-routing.ts does not serve regionally', () => {
    for (const method of ['GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH', 'DELETE']) {
      const { handler, originUpdates } = load(code);
      handler(viewerRequest(method));
      expect([method, originUpdates.length]).toEqual([method, REGIONAL_METHODS.includes(method) ? 0 : 1]);
    }
  });

  test("uses the home region's own API hostname for another home region", () => {
    const { handler, originUpdates } = load(
      apiOriginFunctionCode({ homeRegion: 'eu-west-1', domainName: DOMAIN }),
    );
    handler(viewerRequest('POST'));
    expect(originUpdates).toEqual([{ domainName: `api-eu-west-1.${DOMAIN}` }]);
  });

  test('carries the routing table of lib/config/global-routing.ts, and fits CloudFront Functions', () => {
    expect(code).toContain(JSON.stringify(apiOriginRouting({ homeRegion: HOME, domainName: DOMAIN })));
    expect(apiOriginRouting({ homeRegion: HOME, domainName: DOMAIN })).toEqual({
      regionalMethods: [...REGIONAL_METHODS],
      homePinCookie: HOME_PIN_COOKIE,
      homeOrigin: `api-us-east-1.${DOMAIN}`,
    });
    expect(code).not.toContain(ROUTING_PLACEHOLDER);
    expect(Buffer.byteLength(code)).toBeLessThan(FUNCTION_CODE_MAX_BYTES);
    // The template itself holds no routing value of its own (nothing to drift).
    const template = readFileSync(join(__dirname, '../../lib/edge/api-origin.js'), 'utf8');
    expect(template).not.toContain(HOME_PIN_COOKIE);
    expect(template).not.toMatch(/'(GET|HEAD|OPTIONS)'/);
  });
});
