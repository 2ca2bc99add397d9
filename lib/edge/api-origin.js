import cf from 'cloudfront';

// CloudFront Function (runtime cloudfront-js-2.0, viewer request) on the distribution's `/api/*` behaviour: the
// edge's half of lib/config/global-routing.ts. Reads stay on the behaviour's origin (`api.<domainName>`, which
// Route 53 routes to the viewer's region); writes, and every request of a viewer who wrote within the
// read-your-writes window (the home-pin cookie), go to the home region's own API hostname.
//
// The ROUTING value below is filled in at synth by lib/edge/api-origin-function.ts with the values of
// lib/config/global-routing.ts (HOME_PIN_COOKIE, REGIONAL_METHODS, regionalApiHostname): the table lives there,
// so the edge, Route 53 and the local geo router cannot drift apart.
// eslint-disable-next-line no-undef -- a placeholder, replaced at synth
const ROUTING = __ROUTING__;

function goesHome(request) {
  if (ROUTING.regionalMethods.indexOf(request.method) === -1) return true;
  const cookies = request.cookies || {};
  return Object.prototype.hasOwnProperty.call(cookies, ROUTING.homePinCookie);
}

// eslint-disable-next-line @typescript-eslint/no-unused-vars -- CloudFront calls `handler` by name
function handler(event) {
  const request = event.request;
  if (goesHome(request)) {
    // Origin modification (viewer request only): same origin settings (HTTPS only, timeouts), another host; the
    // origin request policy leaves the viewer's Host out, so CloudFront sends this name as Host and SNI.
    cf.updateRequestOrigin({ domainName: ROUTING.homeOrigin });
  }
  return request;
}
