import type { IncomingMessage, OutgoingHttpHeader, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import helmet, { type HelmetOptions } from 'helmet';

/**
 * The response headers helmet sets for `options`, computed once by helmet itself (its own serialisation of
 * the Content-Security-Policy and of every other header), as lower-case name -> value. Only for options
 * whose headers do not depend on the request: static CSP directives (no nonce or function values).
 *
 * @throws Error naming the option when helmet rejects it, or when a header would differ per request
 */
export function helmetHeaders(options: Readonly<HelmetOptions>): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {};
  const recorder = {
    setHeader(name: string, value: OutgoingHttpHeader) {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
      return recorder;
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
  };
  const request = { headers: {} } as IncomingMessage;
  let finished = false;
  helmet(options)(request, recorder as unknown as ServerResponse, (error?: unknown) => {
    if (error) throw error instanceof Error ? error : new Error(String(error));
    finished = true;
  });
  if (!finished)
    throw new Error('helmet did not set its headers synchronously: precomputed headers need static options');
  return Object.freeze(headers);
}

/**
 * Sends helmet's security headers for `options` on every response of `app` (routes, 404s, errors and static
 * files), computed once here by {@link helmetHeaders}. @fastify/helmet builds a new helmet middleware, and
 * so parses the options and serialises the CSP again, on every request; these headers never change per
 * request, so that work is done once. Per-route helmet options and CSP nonces (`reply.helmet`,
 * `reply.cspNonce`) are not offered: the app uses neither. Call it on the root instance.
 */
export function addSecurityHeaders(app: FastifyInstance, options: Readonly<HelmetOptions>): void {
  sendSecurityHeaders(app, helmetHeaders(options));
}

/** {@link addSecurityHeaders} with the headers already computed by {@link helmetHeaders}. */
export function sendSecurityHeaders(app: FastifyInstance, headers: Readonly<Record<string, string>>): void {
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers);
    done();
  });
}
