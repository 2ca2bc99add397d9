import { isIP } from 'node:net';
import type { FastifyInstance, FastifyRequest, FastifyServerOptions } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The client's address as rate limits and logs use it: the CLIENT_IP_HEADER header when configured and
     * present (stage 1m: API Gateway overwrites `x-client-ip` with the caller's source IP), else `request.ip`
     * (the socket's address, or what the trusted proxies of TRUST_PROXY_HOPS report).
     */
    readonly clientIp: string;
  }
}

/**
 * Adds `request.clientIp` to `app`. With `header` set, its value is used when it is one IP address; a request
 * without it (or with anything else in it) falls back to `request.ip`, and the first such request is logged at
 * warn (a misrouted request, or a proxy in front that does not set the header: every client may then share one
 * rate-limit budget).
 */
export function registerClientAddress(app: FastifyInstance, header: string | undefined): void {
  if (header === undefined) {
    app.decorateRequest('clientIp', {
      getter(this: FastifyRequest) {
        return this.ip;
      },
    });
    return;
  }
  let warned = false;
  app.decorateRequest('clientIp', {
    getter(this: FastifyRequest) {
      const value = this.headers[header];
      // One value only: a repeated header arrives joined (`a, b`) and is no single address.
      if (typeof value === 'string' && isIP(value.trim()) !== 0) return value.trim();
      if (!warned) {
        warned = true;
        app.log.warn(
          { header, fallback: this.ip },
          `CLIENT_IP_HEADER is ${header} but a request came without one address in it: using the proxy-reported ` +
            'address instead (logged once); check that the proxy in front sets it on every request',
        );
      }
      return this.ip;
    },
  });
}

/** fastify's request serializer with `remoteAddress` from {@link FastifyRequest.clientIp}. */
function serializeRequest(request: FastifyRequest) {
  return {
    method: request.method,
    url: request.url,
    version: request.headers?.['accept-version'],
    host: request.host,
    // clientIp is absent on a request of another server sharing the logger
    remoteAddress: request.clientIp ?? request.ip,
    remotePort: request.socket?.remotePort,
  };
}

/**
 * Logger options whose request log lines carry {@link FastifyRequest.clientIp} as `remoteAddress`; a
 * serializer the options already give wins, and `false` (no logs) stays as it is.
 */
export function withClientAddressLog(logger: FastifyServerOptions['logger']): FastifyServerOptions['logger'] {
  if (logger === false || logger === undefined) return logger;
  const options = logger === true ? {} : logger;
  return {
    ...options,
    serializers: { req: serializeRequest as never, ...options.serializers },
  };
}
