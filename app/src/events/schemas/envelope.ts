/** Format of an event id (a UUID, any version). */
export const uuid = { type: 'string', format: 'uuid' } as const;

/**
 * The envelope's JSON Schema for one event type and its data schema: `{ id, type, version, occurredAt, data }`,
 * nothing else.
 */
export function envelopeSchema<T extends string>(type: T, data: object) {
  return {
    $id: `https://shop.example/events/${type}.v1.json`,
    type: 'object',
    properties: {
      id: uuid,
      type: { const: type },
      version: { const: 1 },
      occurredAt: { type: 'string', format: 'date-time' },
      data,
    },
    required: ['id', 'type', 'version', 'occurredAt', 'data'],
    additionalProperties: false,
  } as const;
}

/** A count of cents or units: a non-negative integer. */
export const nonNegativeInteger = { type: 'integer', minimum: 0 } as const;
