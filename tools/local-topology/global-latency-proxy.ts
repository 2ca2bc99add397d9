/**
 * A TCP proxy that puts an inter-region link between a client and a server: every chunk is delayed by half the
 * round trip in each direction (order kept), so a request/response exchange costs one round trip more. Stage
 * global's bench puts it between a secondary region's app and the home region's primary to emulate Aurora write
 * forwarding (each statement crosses to the writer and back), and counts the exchanges: a new exchange starts
 * whenever the client sends after the server has answered, i.e. one per round trip the client waits for.
 */
import net from 'node:net';

/** A running {@link startLatencyProxy}. */
export interface LatencyProxy {
  /** The port it listens on (127.0.0.1). */
  readonly port: number;
  /** Client round trips so far (see the module comment), over every connection. */
  readonly roundTrips: number;
  /** Sets the round trip added, ms (half each way). */
  setRoundTripMs(ms: number): void;
  /** Stops listening and drops the open connections. */
  close(): Promise<void>;
}

/** Starts a proxy to `target` (`host:port`) adding `roundTripMs` to every exchange. */
export async function startLatencyProxy(
  target: { host: string; port: number },
  roundTripMs: number,
): Promise<LatencyProxy> {
  let oneWayMs = roundTripMs / 2;
  let roundTrips = 0;
  const sockets = new Set<net.Socket>();
  const delayed = (to: net.Socket) => (chunk: Buffer) => {
    if (oneWayMs <= 0) to.write(chunk);
    else setTimeout(() => to.destroyed || to.write(chunk), oneWayMs);
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(target);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
      s.setNoDelay(true);
    }
    // 'server' until the client speaks after an answer: then one more round trip is under way.
    let lastSpoke: 'client' | 'server' = 'server';
    const toUpstream = delayed(upstream);
    const toClient = delayed(client);
    client.on('data', (chunk: Buffer) => {
      if (lastSpoke === 'server') roundTrips++;
      lastSpoke = 'client';
      toUpstream(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      lastSpoke = 'server';
      toClient(chunk);
    });
    // A close travels the link too, after the data already on it.
    client.once('close', () => setTimeout(() => upstream.destroy(), oneWayMs));
    upstream.once('close', () => setTimeout(() => client.destroy(), oneWayMs));
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    get roundTrips() {
      return roundTrips;
    },
    setRoundTripMs(ms) {
      if (!(ms >= 0)) throw new Error(`round trip must be 0 or more ms (got ${ms})`);
      oneWayMs = ms / 2;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
