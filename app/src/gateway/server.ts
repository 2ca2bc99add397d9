import { buildGateway } from './gateway';
import { loadGatewayConfig } from './gateway-config';

/**
 * Entry point of the local API gateway (`tsx app/src/gateway/server.ts`, `node dist/gateway.js`): validate the
 * environment, listen, and close gracefully on SIGTERM/SIGINT.
 */
async function main(): Promise<void> {
  let config;
  try {
    config = loadGatewayConfig(process.env);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  }
  const gateway = await buildGateway({ config });
  await gateway.listen({ port: config.port, host: config.host });
  gateway.log.info({ upstreams: config.upstreams }, 'gateway listening');
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    gateway.log.info({ signal }, 'gateway shutting down');
    gateway.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`gateway failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
