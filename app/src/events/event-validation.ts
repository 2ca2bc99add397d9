import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { DOMAIN_EVENT_TYPES, type DomainEvent, type DomainEventType } from './domain-event';
import { DOMAIN_EVENT_SCHEMAS } from './schemas';

/** Why a value is not a valid domain event; the message names the field. */
export class InvalidDomainEventError extends Error {
  constructor(message: string) {
    super(`not a valid domain event: ${message}`);
    this.name = 'InvalidDomainEventError';
  }
}

const ajv = new Ajv({ allErrors: false, strict: true, coerceTypes: false, useDefaults: false });
addFormats(ajv);
const validators = new Map<DomainEventType, ValidateFunction>(
  DOMAIN_EVENT_TYPES.map((type) => [type, ajv.compile(DOMAIN_EVENT_SCHEMAS[type])]),
);

function describe(errors: ErrorObject[] | null | undefined): string {
  const error = errors?.[0];
  if (!error) return 'invalid';
  if (error.keyword === 'additionalProperties')
    return `${error.instancePath}/${(error.params as { additionalProperty: string }).additionalProperty} is not allowed`;
  if (error.keyword === 'required')
    return `${error.instancePath}/${(error.params as { missingProperty: string }).missingProperty} is required`;
  return `${error.instancePath || '/'} ${error.message}`;
}

/** True when `type` is a domain event type. */
export function isDomainEventType(type: unknown): type is DomainEventType {
  return (DOMAIN_EVENT_TYPES as readonly unknown[]).includes(type);
}

/**
 * Checks `value` against its type's JSON Schema (the type is read from `value.type`) and returns it typed; throws
 * {@link InvalidDomainEventError} naming the first offending field (`OrderPlaced /data/items/0/quantity must be
 * >= 1`). Used on publish (writing to the outbox and again by the relay) and on consume.
 */
export function validateDomainEvent(value: unknown): DomainEvent {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InvalidDomainEventError('not an object');
  const type = (value as { type?: unknown }).type;
  if (!isDomainEventType(type))
    throw new InvalidDomainEventError(
      `/type must be one of ${DOMAIN_EVENT_TYPES.join(', ')}, got ${JSON.stringify(type)}`,
    );
  const validate = validators.get(type)!;
  if (!validate(value)) throw new InvalidDomainEventError(`${type} ${describe(validate.errors)}`);
  return value as DomainEvent;
}
