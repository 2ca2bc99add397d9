/** Error body of every 4xx and 5xx response. */
export const errorSchema = {
  $id: 'HttpError',
  type: 'object',
  properties: {
    statusCode: { type: 'integer' },
    error: { type: 'string' },
    message: { type: 'string' },
  },
  required: ['statusCode', 'error', 'message'],
} as const;

/** Response entries for the error statuses every route can return. */
export const errorResponses = {
  '4xx': { $ref: 'HttpError#' },
  '5xx': { $ref: 'HttpError#' },
} as const;

/**
 * An id wherever a request carries one (path, query, body): a UUID in 8-4-4-4-12 form, lower-cased by the
 * validator so routes, cache keys and queries all see one canonical form (see `schemas/keywords.ts`).
 */
export const uuidString = { type: 'string', canonicalUuid: true } as const;

/** Text that reaches the database: no NUL, no unpaired surrogate (a 400 naming the field otherwise). */
export const storableText = { type: 'string', storableText: true } as const;

/** An id path parameter: a UUID (ids are UUIDv7). */
export const idParams = {
  type: 'object',
  properties: { id: uuidString },
  required: ['id'],
  additionalProperties: false,
} as const;
