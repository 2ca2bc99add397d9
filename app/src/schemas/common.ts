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

/** An id path parameter: a UUID (ids are UUIDv7). */
export const idParams = {
  type: 'object',
  properties: { id: { type: 'string', format: 'uuid' } },
  required: ['id'],
  additionalProperties: false,
} as const;
