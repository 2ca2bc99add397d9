import type { AnySchema } from 'ajv';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyReply,
  type FastifyRequest,
  type FastifyInstance,
  type FastifyServerOptions,
  type FastifySchemaCompiler,
} from 'fastify';
import type { ShopContext } from '../context';
import { internalStockRoutes } from '../routes/internal';
import { errorSchema } from '../schemas/common';

/** Options of {@link buildInternalServer}: what the public server's requests share with it. */
export interface InternalServerOptions {
  /** The shop the routes work on (the public server's own). */
  readonly shop: ShopContext;
  /** Logger of the process (the internal server logs as the app does). */
  readonly logger: FastifyBaseLogger;
  /** The app's server options every server shares: keep-alive, body limit, request ids, validation messages. */
  readonly serverOptions: Pick<
    FastifyServerOptions,
    'keepAliveTimeout' | 'bodyLimit' | 'genReqId' | 'requestIdHeader' | 'schemaErrorFormatter'
  >;
  /** The app's validator compiler (strict bodies, coerced parameters). */
  readonly validatorCompiler: FastifySchemaCompiler<AnySchema>;
  /** The app's error handler: the same statuses and messages as on the public port. */
  readonly errorHandler: (
    error: Error & { statusCode?: number },
    request: FastifyRequest,
    reply: FastifyReply,
  ) => unknown;
}

/**
 * The products service's internal API (`/internal/*`: stock reservations for the orders service) on a server of
 * its own, for INTERNAL_PORT: Service Connect's `products` port mapping points there, the load balancer's target
 * group at the public port, which never registers these routes, so no spelling of `/internal` (`/%69nternal`,
 * `//internal`, ...) that a path-matching proxy lets through can reach them. Not listening until the caller
 * listens on it (server.ts); the app closes it.
 */
export async function buildInternalServer(options: InternalServerOptions): Promise<FastifyInstance> {
  const server = Fastify({
    loggerInstance: options.logger.child({ server: 'internal' }),
    // Below this port sits the Service Connect proxy: its idle timeout must stay under this keep-alive.
    ...options.serverOptions,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });
  server.setValidatorCompiler(options.validatorCompiler);
  server.setErrorHandler(options.errorHandler);
  server.decorate('shop', options.shop);
  server.addSchema(errorSchema);
  const { metrics } = options.shop;
  server.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const seconds = reply.elapsedTime / 1000;
    metrics.httpDuration.observe({ method: request.method, route, status_code: reply.statusCode }, seconds);
    metrics.httpDurationQuantiles.observe({ route }, seconds);
    done();
  });
  await server.register(internalStockRoutes);
  return server;
}
