import type { FastifyInstance, InjectOptions } from 'fastify';
import { invalidationsApplied } from './app';

/** The part of light-my-request's response the shared API cases read. */
interface HttpResponse {
  statusCode: number;
  headers: Record<string, string | string[]>;
  body: string;
  payload: string;
  json(): any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** `inject` over real HTTP: the same options, sent with fetch to `baseUrl`. */
async function send(baseUrl: string, options: InjectOptions): Promise<HttpResponse> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(options.headers ?? {}))
    if (value !== undefined) headers[name.toLowerCase()] = String(value);
  let body: string | Blob | undefined;
  const payload = options.payload ?? options.body;
  if (typeof payload === 'string') body = payload;
  else if (Buffer.isBuffer(payload)) body = new Blob([new Uint8Array(payload)]);
  else if (payload !== undefined) {
    body = JSON.stringify(payload);
    headers['content-type'] ??= 'application/json';
  }
  const url = new URL(String(options.url ?? '/'), baseUrl);
  for (const [name, value] of Object.entries((options.query as Record<string, string>) ?? {}))
    url.searchParams.append(name, value);
  const response = await fetch(url, { method: options.method ?? 'GET', headers, body, redirect: 'manual' });
  const text = await response.text();
  const out: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => (out[name] = value));
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) out['set-cookie'] = cookies.length === 1 ? cookies[0] : cookies;
  return {
    statusCode: response.status,
    headers: out,
    body: text,
    payload: text,
    json: () => JSON.parse(text),
  };
}

/** Sums the Prometheus text of several metrics endpoints series by series (one shop made of several processes). */
export function sumMetrics(texts: readonly string[]): string {
  const sums = new Map<string, number>();
  const help: string[] = [];
  for (const text of texts) {
    for (const line of text.split('\n')) {
      if (line === '') continue;
      if (line.startsWith('#')) {
        if (!help.includes(line)) help.push(line);
        continue;
      }
      const at = line.lastIndexOf(' ');
      const series = line.slice(0, at);
      sums.set(series, (sums.get(series) ?? 0) + Number(line.slice(at + 1)));
    }
  }
  return [...help, ...[...sums].map(([series, value]) => `${series} ${value}`)].join('\n') + '\n';
}

/**
 * The shop as the shared API cases (shop-api-cases.ts) and their helpers see it, made of processes reached over
 * HTTP: `inject` goes to `baseUrl` (the gateway), `metricsServer.inject` answers the sum of every process's
 * metrics (the cases compare counters before and after), and `shop` is an in-process app on the same databases
 * and Redis prefix for the database checks and the admin grant.
 *
 * A successful write through `inject` returns once its invalidation events have been applied (the outbox is
 * drained and every event processed by one of the processes): the shared cases were written against one
 * process, where the event of a write lands before the next request; across processes it lands a few ms later,
 * and a case counting cache misses right after a write would count that event's reload as its own.
 */
export function shopOverHttp(
  baseUrl: string,
  metricsUrls: readonly string[],
  inspector: FastifyInstance,
): FastifyInstance {
  const facade = {
    inject: async (options: InjectOptions) => {
      const response = await send(baseUrl, options);
      const method = (options.method ?? 'GET').toUpperCase();
      if (method !== 'GET' && method !== 'HEAD' && response.statusCode < 400)
        await invalidationsApplied(facade as unknown as FastifyInstance);
      return response;
    },
    metricsServer: {
      inject: async () => {
        const texts = await Promise.all([
          ...metricsUrls.map(async (url) => (await fetch(`${url}/metrics`)).text()),
          inspector.metricsServer.inject({ method: 'GET', url: '/metrics' }).then((r) => r.body),
        ]);
        const text = sumMetrics(texts);
        return {
          statusCode: 200,
          headers: { 'content-type': 'text/plain; version=0.0.4' },
          body: text,
          payload: text,
        };
      },
    },
    shop: inspector.shop,
  };
  // The cases use only inject, metricsServer.inject and shop.
  return facade as unknown as FastifyInstance;
}
