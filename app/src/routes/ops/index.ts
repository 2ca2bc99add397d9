import type { FastifyInstance } from 'fastify';
import { healthSchema, metricsSchema, readySchema } from '../../schemas/ops';

/** /healthz (liveness), /readyz (database reachable, cache state) and /metrics (Prometheus). */
export async function opsRoutes(app: FastifyInstance): Promise<void> {
  const { db, cache, metrics } = app.shop;

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

  app.get('/metrics', { schema: metricsSchema, logLevel: 'warn' }, async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
