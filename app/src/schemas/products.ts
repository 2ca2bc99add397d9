import { errorResponses, idParams, storableText, uuidString } from './common';

/** A product as the API shows it. */
export const productSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    sku: { type: 'string' },
    name: { type: 'string' },
    description: { type: 'string' },
    priceCents: { type: 'integer' },
    stock: { type: 'integer' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
  required: ['id', 'sku', 'name', 'description', 'priceCents', 'stock', 'updatedAt'],
  additionalProperties: false,
} as const;

const fields = {
  sku: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' },
  name: { ...storableText, minLength: 1, maxLength: 200 },
  description: { ...storableText, maxLength: 2000 },
  priceCents: { type: 'integer', minimum: 0, maximum: 100_000_000 },
  stock: { type: 'integer', minimum: 0, maximum: 1_000_000_000 },
} as const;

/** GET /api/products */
export const listProductsSchema = {
  querystring: {
    type: 'object',
    properties: {
      limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
      cursor: uuidString,
      q: { ...storableText, maxLength: 200 },
    },
    additionalProperties: false,
  },
  response: {
    200: {
      type: 'object',
      properties: {
        items: { type: 'array', items: productSchema },
        nextCursor: { type: ['string', 'null'] },
      },
      required: ['items', 'nextCursor'],
      additionalProperties: false,
    },
    ...errorResponses,
  },
} as const;

/** GET /api/products/:id */
export const getProductSchema = {
  params: idParams,
  response: { 200: productSchema, ...errorResponses },
} as const;

/** POST /api/products (admin) */
export const createProductSchema = {
  body: {
    type: 'object',
    properties: fields,
    required: ['sku', 'name', 'priceCents', 'stock'],
    additionalProperties: false,
  },
  response: { 201: productSchema, ...errorResponses },
} as const;

/** PATCH /api/products/:id (admin) */
export const updateProductSchema = {
  params: idParams,
  body: {
    type: 'object',
    properties: {
      name: fields.name,
      description: fields.description,
      priceCents: fields.priceCents,
      stock: fields.stock,
    },
    minProperties: 1,
    additionalProperties: false,
  },
  response: { 200: productSchema, ...errorResponses },
} as const;
