/**
 * The framework baseline: a bare fastify process answering GET /api/products/:id with a fixed product
 * (the app's own response schema, imported, no database, no cache, no session, no logging). Run as a
 * process: `PORT=3100 node --import tsx bench/baseline-server.ts`.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { productSchema } from '../app/src/schemas/products';

/** Builds the baseline server (not listening yet). */
export function buildBaselineServer(): FastifyInstance {
  const app = Fastify({ logger: false });
  const updatedAt = new Date(0).toISOString();
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get<{ Params: { id: string } }>(
    '/api/products/:id',
    {
      schema: {
        params: { type: 'object', properties: { id: { type: 'string' } } },
        response: { 200: productSchema },
      },
    },
    async (request) => ({
      id: request.params.id,
      sku: 'SKU-BASELINE-1',
      name: 'Copper Kettle 1',
      description: 'A sturdy, well-made item from the seed catalog, number 1.',
      priceCents: 1999,
      stock: 10000,
      updatedAt,
    }),
  );
  return app;
}

if (require.main === module) {
  const app = buildBaselineServer();
  app
    .listen({ port: Number(process.env.PORT ?? 3100), host: process.env.HOST ?? '127.0.0.1' })
    .then((address) => {
      console.log(`bare fastify baseline listening on ${address}`);
      const stop = () => void app.close().then(() => process.exit(0));
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    })
    .catch((error: Error) => {
      console.error(`baseline failed to start: ${error.message}`);
      process.exit(1);
    });
}
