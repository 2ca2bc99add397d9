import net from 'node:net';

/** A running {@link startRoundRobin} balancer. */
export interface RoundRobin {
  /** Its base URL (`http://127.0.0.1:<port>`). */
  readonly url: string;
  /** Stops listening and drops the open connections. */
  close(): Promise<void>;
}

/**
 * A TCP round-robin in front of several processes of one service, as Service Connect's proxy is in AWS (for the
 * local topology only): each connection goes to the next upstream port, and one that refuses the connection is
 * skipped for the next at once (nothing was sent to it, so this is safe for any request). A connection whose
 * upstream dies is closed; the client's next connection goes to a live one.
 */
export async function startRoundRobin(ports: readonly number[], host = '127.0.0.1'): Promise<RoundRobin> {
  if (ports.length === 0) throw new Error('startRoundRobin needs at least one upstream port');
  let next = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    client.pause();
    const start = next;
    next = (next + 1) % ports.length;
    let upstream: net.Socket | undefined;
    client.on('error', () => upstream?.destroy());
    client.once('close', () => upstream?.destroy());
    const connect = (tries: number) => {
      const socket = net.connect({ port: ports[(start + tries) % ports.length], host });
      upstream = socket;
      let connected = false;
      sockets.add(socket);
      socket.once('close', () => {
        sockets.delete(socket);
        if (connected) client.destroy();
      });
      socket.on('error', () => {
        // Refused: the next port, until every one was tried. Once connected, an error closes both sides.
        if (!connected && tries + 1 < ports.length && !client.destroyed) return connect(tries + 1);
        client.destroy();
      });
      socket.once('connect', () => {
        connected = true;
        client.pipe(socket);
        socket.pipe(client);
        client.resume();
      });
    };
    connect(0);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
