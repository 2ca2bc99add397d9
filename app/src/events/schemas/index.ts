import type { DomainEventType } from '../domain-event';
import { orderCancelledSchema } from './order-cancelled';
import { orderPlacedSchema } from './order-placed';
import { productChangedSchema } from './product-changed';
import { userRegisteredSchema } from './user-registered';

/** The JSON Schema of each domain event type (envelope and data, version 1). */
export const DOMAIN_EVENT_SCHEMAS: Record<DomainEventType, object> = {
  OrderPlaced: orderPlacedSchema,
  OrderCancelled: orderCancelledSchema,
  ProductChanged: productChangedSchema,
  UserRegistered: userRegisteredSchema,
};
