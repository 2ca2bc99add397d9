import { envelopeSchema, nonNegativeInteger, uuid } from './envelope';

/** ProductChanged v1: written by the products service with an admin's create or update (same transaction). */
export const productChangedSchema = envelopeSchema('ProductChanged', {
  type: 'object',
  properties: {
    productId: uuid,
    change: { enum: ['created', 'updated'] },
    sku: { type: 'string', minLength: 1 },
    name: { type: 'string', minLength: 1 },
    priceCents: nonNegativeInteger,
    stock: nonNegativeInteger,
  },
  required: ['productId', 'change', 'sku', 'name', 'priceCents', 'stock'],
  additionalProperties: false,
});
