/** GET /healthz */
export const healthSchema = {
  response: {
    200: {
      type: 'object',
      properties: { status: { type: 'string', enum: ['ok'] } },
      required: ['status'],
      additionalProperties: false,
    },
  },
} as const;

const readiness = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ready', 'unavailable'] },
    database: { type: 'string', enum: ['ok', 'error'] },
    cache: { type: 'string', enum: ['ok', 'degraded', 'memory', 'none'] },
  },
  required: ['status', 'database', 'cache'],
  additionalProperties: false,
} as const;

/** GET /readyz: 200 when the database answers (a degraded cache does not make the instance unready). */
export const readySchema = { response: { 200: readiness, 503: readiness } } as const;

/** GET /metrics (Prometheus text format). */
export const metricsSchema = { response: { 200: { type: 'string' } } } as const;
