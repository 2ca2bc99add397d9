import { errorResponses, storableText, uuidString } from './common';
import { userSchema } from './users';

/** What every cross-shard report says about shards that did not answer in time. */
const completeness = {
  partial: { type: 'boolean' },
  missingShards: { type: 'array', items: { type: 'string' } },
} as const;

const limit = { type: 'integer', minimum: 1, maximum: 100, default: 20 } as const;

/** GET /api/admin/orders?productId=…: orders containing a product, newest first, across every shard. */
export const adminProductOrdersSchema = {
  querystring: {
    type: 'object',
    properties: { productId: uuidString, limit, cursor: uuidString },
    required: ['productId'],
    additionalProperties: false,
  },
  response: {
    200: {
      type: 'object',
      properties: {
        items: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              id: { type: 'string' },
              userId: { type: 'string' },
              status: { type: 'string' },
              totalCents: { type: 'integer' },
              createdAt: { type: 'string', format: 'date-time' },
              quantity: { type: 'integer' },
            },
            required: ['id', 'userId', 'status', 'totalCents', 'createdAt', 'quantity'],
            additionalProperties: false,
          },
        },
        nextCursor: { type: ['string', 'null'] },
        ...completeness,
      },
      required: ['items', 'nextCursor', 'partial', 'missingShards'],
      additionalProperties: false,
    },
    ...errorResponses,
  },
} as const;

/** Longest range of one sales report, in days (from and to included). */
export const MAX_SALES_DAYS = 366;

/** GET /api/admin/sales?from=…&to=…: placed orders and their total per UTC day, across every shard. */
export const adminSalesSchema = {
  querystring: {
    type: 'object',
    properties: {
      from: { type: 'string', format: 'date' },
      to: { type: 'string', format: 'date' },
    },
    required: ['from', 'to'],
    additionalProperties: false,
  },
  response: {
    200: {
      type: 'object',
      properties: {
        days: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              day: { type: 'string' },
              orders: { type: 'integer' },
              totalCents: { type: 'integer' },
            },
            required: ['day', 'orders', 'totalCents'],
            additionalProperties: false,
          },
        },
        orders: { type: 'integer' },
        totalCents: { type: 'integer' },
        ...completeness,
      },
      required: ['days', 'orders', 'totalCents', 'partial', 'missingShards'],
      additionalProperties: false,
    },
    ...errorResponses,
  },
} as const;

/** GET /api/admin/users?q=…: users by email or name prefix, by email, across every shard. */
export const adminUserSearchSchema = {
  querystring: {
    type: 'object',
    properties: {
      q: { ...storableText, minLength: 1, maxLength: 254 },
      limit,
      cursor: { ...storableText, minLength: 1, maxLength: 254 },
    },
    required: ['q'],
    additionalProperties: false,
  },
  response: {
    200: {
      type: 'object',
      properties: {
        items: { type: 'array', items: userSchema },
        nextCursor: { type: ['string', 'null'] },
        ...completeness,
      },
      required: ['items', 'nextCursor', 'partial', 'missingShards'],
      additionalProperties: false,
    },
    ...errorResponses,
  },
} as const;
