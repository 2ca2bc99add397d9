import type { FastifyInstance } from 'fastify';
import { healthSchema, readySchema } from '../../schemas/ops';

/**
 * /healthz (liveness) and /readyz (database reachable, cache state). Metrics are not here: they are served
 * on the metrics port only (`buildMetricsServer`), which the load balancer never routes to.
 */
export async function opsRoutes(app: FastifyInstance): Promise<void> {
  const { db, cache } = app.shop;

  app.get('/healthz', { schema: healthSchema, logLevel: 'warn' }, async () => ({ status: 'ok' as const }));

  app.get('/readyz', { schema: readySchema, logLevel: 'warn' }, async (request, reply) => {
    let database: 'ok' | 'error' = 'ok';
    try {
      await db.ping();
    } catch (err) {
      database = 'error';
      request.log.warn({ err: (err as Error).message }, 'readiness: database unreachable');
    }
    let cacheState: 'ok' | 'degraded' | 'memory' | 'none' = cache.store.kind === 'none' ? 'none' : 'memory';
    if (cache.store.kind === 'redis') {
      cacheState = await cache.store.ping().then(
        () => 'ok' as const,
        () => 'degraded' as const,
      );
    }
    const ready = database === 'ok';
    return reply
      .code(ready ? 200 : 503)
      .send({ status: ready ? 'ready' : 'unavailable', database, cache: cacheState });
  });
}
