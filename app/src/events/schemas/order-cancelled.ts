import { envelopeSchema, uuid } from './envelope';

/** OrderCancelled v1: written by the orders service with the cancellation (same statement). */
export const orderCancelledSchema = envelopeSchema('OrderCancelled', {
  type: 'object',
  properties: {
    orderId: uuid,
    userId: uuid,
    items: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        properties: { productId: uuid, quantity: { type: 'integer', minimum: 1 } },
        required: ['productId', 'quantity'],
        additionalProperties: false,
      },
    },
  },
  required: ['orderId', 'userId', 'items'],
  additionalProperties: false,
});
