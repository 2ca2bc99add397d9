import { HttpError } from '../errors';
import type { CatalogStock, OrderRequest } from '../orders/order-placement';
import type { OrderLine } from '../repositories/order-repository';
import { DependencyUnavailableError, type ServiceClient, type ServiceResponse } from './service-client';

/**
 * {@link CatalogStock} over the products service's internal API (the orders service of stage 1m). Every call is
 * idempotent by the order id, so the client may retry it. A 400/409 of the products service is the order's
 * answer (same message as the monolith's); no answer is a 503 with Retry-After, and the reservation's fate is
 * then unknown: the placement releases nothing it is not sure of, and the products service's reconciler settles
 * what is left.
 */
export class HttpCatalogStock implements CatalogStock {
  constructor(private readonly client: ServiceClient) {}

  async reserve(order: OrderRequest, _tags: readonly string[]): Promise<OrderLine[]> {
    // The products service computes the cache tags of its own catalog; they are not sent.
    const response = await this.client.send({
      method: 'POST',
      path: `/internal/reservations/${order.id}`,
      body: {
        userId: order.userId,
        lines: order.lines.map(({ productId, quantity, field }) => ({ productId, quantity, field })),
      },
      idempotent: true,
    });
    if (response.status === 200) return (response.body as { lines: OrderLine[] }).lines;
    if (response.status === 400 || response.status === 409)
      throw new HttpError(response.status, messageOf(response));
    throw unexpected(response);
  }

  async confirm(orderId: string): Promise<void> {
    const response = await this.client.send({
      method: 'POST',
      path: `/internal/reservations/${orderId}/confirm`,
      idempotent: true,
    });
    if (response.status !== 204) throw unexpected(response);
  }

  async release(orderId: string): Promise<number> {
    const response = await this.client.send({
      method: 'POST',
      path: `/internal/reservations/${orderId}/release`,
      idempotent: true,
    });
    if (response.status !== 200) throw unexpected(response);
    return (response.body as { released: number }).released;
  }
}

function messageOf(response: ServiceResponse): string {
  const message = (response.body as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' ? message : `products answered ${response.status}`;
}

/** Any other answer (a 404 from a products service without the internal API, an old version): unavailable. */
function unexpected(response: ServiceResponse): DependencyUnavailableError {
  return new DependencyUnavailableError(
    'products',
    5,
    `unexpected answer ${response.status}: ${messageOf(response)}`,
  );
}
