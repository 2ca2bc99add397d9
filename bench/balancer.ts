/**
 * A small round-robin HTTP load balancer (the local stand-in for the ALB of stage 10k): each incoming
 * request goes to the next backend in turn over keep-alive connections. Run as a process:
 * `PORT=8080 BACKENDS=http://127.0.0.1:3001,http://127.0.0.1:3002 node --import tsx bench/balancer.ts`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A running balancer. */
export interface RoundRobinBalancer {
  readonly url: string;
  close(): Promise<void>;
}

// Hop-by-hop headers (RFC 9110 section 7.6.1) belong to one connection and are never forwarded.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

function endToEnd(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  return out;
}

/** Starts a balancer on `port` (0 = any free port) in front of `backends`. */
export async function startRoundRobinBalancer(options: {
  readonly backends: readonly string[];
  readonly port?: number;
  readonly host?: string;
}): Promise<RoundRobinBalancer> {
  if (options.backends.length === 0) throw new Error('startRoundRobinBalancer: backends must not be empty');
  const backends = options.backends.map((b) => new URL(b));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 256 });
  let next = 0;

  const server = http.createServer((req, res) => {
    const backend = backends[next];
    next = (next + 1) % backends.length;
    const headers = endToEnd(req.headers);
    const peer = req.socket.remoteAddress ?? '';
    const forwardedFor = req.headers['x-forwarded-for'];
    headers['x-forwarded-for'] = forwardedFor ? `${String(forwardedFor)}, ${peer}` : peer;
    const upstream = http.request(
      { host: backend.hostname, port: backend.port, method: req.method, path: req.url, headers, agent },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, endToEnd(answer.headers));
        answer.pipe(res);
      },
    );
    upstream.on('error', (error) => {
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ error: 'Bad Gateway', message: `backend ${backend.host}: ${error.message}` }),
        );
      } else {
        res.destroy(error);
      }
    });
    req.pipe(upstream);
  });
  // Longer than the load generator's idle time, so client connections are reused, never raced.
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        agent.destroy();
        server.close(() => resolve());
      }),
  };
}

if (require.main === module) {
  const backends = (process.env.BACKENDS ?? '').split(',').filter(Boolean);
  const port = Number(process.env.PORT ?? 0);
  startRoundRobinBalancer({ backends, port })
    .then((balancer) => {
      console.log(`balancer listening on ${balancer.url} -> ${backends.join(', ')}`);
      const stop = () => void balancer.close().then(() => process.exit(0));
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    })
    .catch((error: Error) => {
      console.error(`balancer failed to start: ${error.message}`);
      process.exit(1);
    });
}
