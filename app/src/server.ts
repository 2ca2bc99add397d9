import type { AddressInfo } from 'node:net';
import { buildApp } from './app';
import { ConfigError, loadConfig, type AppConfig } from './config';

/**
 * Entry point of the shop (`npm start`, and `node dist/server.js` in the container): validate the
 * environment, build the app, listen, and shut down gracefully on SIGTERM/SIGINT (stop accepting
 * connections, let in-flight requests finish, close the pools, exit 0).
 */
async function main(): Promise<void> {
  let config: AppConfig;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }

  const app = await buildApp({ config });
  // Metrics first, on a listener of their own: the load balancer routes to PORT only, so /metrics (in any
  // spelling) never reaches the public.
  await app.metricsServer.listen({ port: config.metrics.port, host: config.metrics.host });
  const metricsPort = (app.metricsServer.server.address() as AddressInfo).port;
  // The products service's internal API, on a port of its own too (Service Connect's port mapping points there).
  let internalPort: number | undefined;
  if (app.internalServer) {
    await app.internalServer.listen({ port: config.internalPort, host: config.host });
    internalPort = (app.internalServer.server.address() as AddressInfo).port;
  }
  await app.listen({ port: config.port, host: config.host });
  const port = (app.server.address() as AddressInfo).port;
  app.log.info(
    {
      service: config.service,
      database: config.database.kind,
      cache: config.cacheStore,
      sessions: config.sessionStore,
      port,
      metricsPort,
      ...(internalPort !== undefined ? { internalPort } : {}),
    },
    `shop listening; storefront at http://localhost:${port}, metrics at http://localhost:${metricsPort}/metrics`,
  );

  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down: finishing in-flight requests');
    const timer = setTimeout(() => {
      app.log.error('graceful shutdown timed out; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs);
    timer.unref();
    // close() drops the keep-alive connections that are idle now; one whose response is still being
    // written becomes idle later and would be held open by the client (the ALB keeps connections alive)
    // until the time limit. Close such connections as soon as they go idle.
    const sweep = setInterval(() => app.server.closeIdleConnections(), 100);
    sweep.unref();
    app.close().then(
      () => {
        app.log.info('shutdown complete');
        process.exit(0);
      },
      (err: unknown) => {
        app.log.error({ err }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`shop failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
