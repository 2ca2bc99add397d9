import { envelopeSchema, nonNegativeInteger, uuid } from './envelope';

/** OrderPlaced v1: written by the orders service with the order (same statement). */
export const orderPlacedSchema = envelopeSchema('OrderPlaced', {
  type: 'object',
  properties: {
    orderId: uuid,
    userId: uuid,
    totalCents: nonNegativeInteger,
    items: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        properties: {
          productId: uuid,
          quantity: { type: 'integer', minimum: 1 },
          unitPriceCents: nonNegativeInteger,
        },
        required: ['productId', 'quantity', 'unitPriceCents'],
        additionalProperties: false,
      },
    },
  },
  required: ['orderId', 'userId', 'totalCents', 'items'],
  additionalProperties: false,
});
