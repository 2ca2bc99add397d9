import { envelopeSchema, uuid } from './envelope';

/**
 * UserRegistered v1: written by the users service with the new user row (same statement). Only the id: events
 * are archived and replayable, so they carry no email or name.
 */
export const userRegisteredSchema = envelopeSchema('UserRegistered', {
  type: 'object',
  properties: { userId: uuid },
  required: ['userId'],
  additionalProperties: false,
});
