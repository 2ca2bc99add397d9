import net from 'node:net';

/**
 * A TCP proxy in front of a server that can stall: while stalled it still accepts connections (the kernel would
 * anyway) and keeps every connection open, but forwards nothing in either direction, as a frozen server or a
 * black-holed network does. Queries on pooled connections and new log-ins then wait for ever.
 */
export interface StallProxy {
  /** `127.0.0.1:<port>` of the proxy. */
  readonly port: number;
  /** `url` with its host and port replaced by the proxy's. */
  via(url: string): string;
  /** Stops forwarding (existing and new connections). */
  stall(): void;
  /** Forwards again, including what queued up meanwhile. */
  resume(): void;
  /** Connections currently open through the proxy. */
  readonly open: number;
  /** Closes every connection and the listener. */
  close(): Promise<void>;
}

/** Starts a {@link StallProxy} to `target` (`postgres://host:port/...`) on a free port. */
export async function startStallProxy(target: string): Promise<StallProxy> {
  const { hostname, port: targetPort } = new URL(target);
  let stalled = false;
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  const setFlowing = (pair: { client: net.Socket; upstream: net.Socket }) => {
    if (stalled) {
      pair.client.pause();
      pair.upstream.pause();
    } else {
      pair.client.resume();
      pair.upstream.resume();
    }
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(targetPort), hostname);
    const pair = { client, upstream };
    pairs.add(pair);
    // Data flows only through these handlers, so pausing both sockets stops it both ways.
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => client.write(chunk));
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
    setFlowing(pair);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    via: (url) => {
      const parsed = new URL(url);
      parsed.hostname = '127.0.0.1';
      parsed.port = String(port);
      return parsed.toString();
    },
    stall: () => {
      stalled = true;
      pairs.forEach(setFlowing);
    },
    resume: () => {
      stalled = false;
      pairs.forEach(setFlowing);
    },
    get open() {
      return pairs.size;
    },
    close: async () => {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
