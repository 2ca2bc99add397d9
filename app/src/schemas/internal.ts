import { errorResponses, uuidString } from './common';
import { MAX_LINE_QUANTITY, MAX_ORDER_LINES } from './orders';

const orderIdParams = {
  type: 'object',
  properties: { orderId: uuidString },
  required: ['orderId'],
  additionalProperties: false,
} as const;

/** A reserved line, priced from the catalog. */
const reservedLine = {
  type: 'object',
  properties: {
    productId: { type: 'string' },
    name: { type: 'string' },
    quantity: { type: 'integer' },
    unitPriceCents: { type: 'integer' },
  },
  required: ['productId', 'name', 'quantity', 'unitPriceCents'],
  additionalProperties: false,
} as const;

/** POST /internal/reservations/:orderId (products service; the orders service's stock reservation). */
export const reserveStockSchema = {
  params: orderIdParams,
  body: {
    type: 'object',
    properties: {
      userId: uuidString,
      lines: {
        type: 'array',
        minItems: 1,
        maxItems: MAX_ORDER_LINES,
        items: {
          type: 'object',
          properties: {
            productId: uuidString,
            quantity: { type: 'integer', minimum: 1, maximum: MAX_LINE_QUANTITY },
            // The public request's field this line came from, so a 400/409 names it as the monolith does.
            field: { type: 'string', pattern: '^body/items/[0-9]+/productId$' },
          },
          required: ['productId', 'quantity', 'field'],
          additionalProperties: false,
        },
      },
    },
    required: ['userId', 'lines'],
    additionalProperties: false,
  },
  response: {
    200: {
      type: 'object',
      properties: { lines: { type: 'array', items: reservedLine } },
      required: ['lines'],
      additionalProperties: false,
    },
    ...errorResponses,
  },
} as const;

/** POST /internal/reservations/:orderId/confirm */
export const confirmStockSchema = {
  params: orderIdParams,
  response: { 204: { type: 'null' }, ...errorResponses },
} as const;

/** POST /internal/reservations/:orderId/release */
export const releaseStockSchema = {
  params: orderIdParams,
  response: {
    200: {
      type: 'object',
      properties: { released: { type: 'integer' } },
      required: ['released'],
      additionalProperties: false,
    },
    ...errorResponses,
  },
} as const;
