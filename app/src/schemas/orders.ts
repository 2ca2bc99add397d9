import { errorResponses, idParams, uuidString } from './common';

/** Most lines one order can have. */
export const MAX_ORDER_LINES = 50;
/** Most units of one product one order can ask for. */
export const MAX_LINE_QUANTITY = 1000;

/** An order as the API shows it. */
export const orderSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    userId: { type: 'string' },
    status: { type: 'string' },
    totalCents: { type: 'integer' },
    createdAt: { type: 'string', format: 'date-time' },
    items: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          productId: { type: 'string' },
          name: { type: 'string' },
          quantity: { type: 'integer' },
          unitPriceCents: { type: 'integer' },
        },
        required: ['productId', 'name', 'quantity', 'unitPriceCents'],
        additionalProperties: false,
      },
    },
  },
  required: ['id', 'userId', 'status', 'totalCents', 'createdAt', 'items'],
  additionalProperties: false,
} as const;

/** POST /api/orders */
export const placeOrderSchema = {
  body: {
    type: 'object',
    properties: {
      items: {
        type: 'array',
        minItems: 1,
        maxItems: MAX_ORDER_LINES,
        items: {
          type: 'object',
          properties: {
            productId: uuidString,
            quantity: { type: 'integer', minimum: 1, maximum: MAX_LINE_QUANTITY },
          },
          required: ['productId', 'quantity'],
          additionalProperties: false,
        },
      },
    },
    required: ['items'],
    additionalProperties: false,
  },
  response: { 201: orderSchema, ...errorResponses },
} as const;

/** GET /api/orders */
export const listOrdersSchema = {
  response: {
    200: {
      type: 'object',
      properties: { items: { type: 'array', items: orderSchema } },
      required: ['items'],
      additionalProperties: false,
    },
    ...errorResponses,
  },
} as const;

/** GET /api/orders/:id */
export const getOrderSchema = {
  params: idParams,
  response: { 200: orderSchema, ...errorResponses },
} as const;

/** How long after placing it an order can be cancelled (then 409). */
export const ORDER_CANCEL_WINDOW_SECONDS = 24 * 3600;

/**
 * POST /api/orders/:id/cancel: no body; 200 with the order (cancelled now or before: idempotent), 404 when the
 * user has no such order, 409 when it is past the cancellation window.
 */
export const cancelOrderSchema = {
  params: idParams,
  response: { 200: orderSchema, ...errorResponses },
} as const;
