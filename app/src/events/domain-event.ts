import { randomUUID } from 'node:crypto';

/** The domain event types of stage 1m (CONTRACT-1m: "Events"). */
export const DOMAIN_EVENT_TYPES = [
  'OrderPlaced',
  'OrderCancelled',
  'ProductChanged',
  'UserRegistered',
] as const;

/** One of {@link DOMAIN_EVENT_TYPES}. */
export type DomainEventType = (typeof DOMAIN_EVENT_TYPES)[number];

/** OrderPlaced's data: the order as placed (prices copied at order time). */
export interface OrderPlacedData {
  orderId: string;
  userId: string;
  totalCents: number;
  items: { productId: string; quantity: number; unitPriceCents: number }[];
}

/** OrderCancelled's data: what the order had taken out of stock. */
export interface OrderCancelledData {
  orderId: string;
  userId: string;
  items: { productId: string; quantity: number }[];
}

/** ProductChanged's data: the product after the change. */
export interface ProductChangedData {
  productId: string;
  change: 'created' | 'updated';
  sku: string;
  name: string;
  priceCents: number;
  stock: number;
}

/** UserRegistered's data: the new user's id only (no personal data in an archived event stream). */
export interface UserRegisteredData {
  userId: string;
}

/** The data of each event type. */
export interface DomainEventData {
  OrderPlaced: OrderPlacedData;
  OrderCancelled: OrderCancelledData;
  ProductChanged: ProductChangedData;
  UserRegistered: UserRegisteredData;
}

/** The envelope every domain event travels in (the contract's shape). */
export interface DomainEvent<T extends DomainEventType = DomainEventType> {
  /** A UUID, unique per event: the consumers' dedupe key. */
  id: string;
  type: T;
  /** The data's schema version. */
  version: 1;
  /** When the change committed (ISO 8601). */
  occurredAt: string;
  data: DomainEventData[T];
}

/** A new event of `type` with a fresh id, occurring now. */
export function newDomainEvent<T extends DomainEventType>(type: T, data: DomainEventData[T]): DomainEvent<T> {
  return { id: randomUUID(), type, version: 1, occurredAt: new Date().toISOString(), data };
}
