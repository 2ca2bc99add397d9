import { Counter, Histogram, type Registry } from 'prom-client';
import type { ConsumeResult } from '../queue/queue-consumer';
import type { DomainEvent } from './domain-event';

/** Prometheus metrics of domain events, registered on the app's registry (served on METRICS_PORT). */
export class DomainEventMetrics {
  /** Events the bus accepted from this instance's relays. */
  readonly published: Counter<'type'>;
  /** Events handled by this instance's consumers: applied now, or a duplicate that changed nothing. */
  readonly handled: Counter<'type' | 'outcome'>;
  /** Deliveries of this instance's event queues by outcome (`dead_lettered`: failed its last attempt). */
  readonly messages: Counter<'result'>;
  /** Seconds from the event's outbox insert (`occurredAt`) to its effect committed. */
  readonly delay: Histogram<'type'>;

  constructor(registry: Registry) {
    this.published = new Counter({
      name: 'domain_events_published_total',
      help: 'Domain events accepted by the bus from this instance, by type',
      labelNames: ['type'],
      registers: [registry],
    });
    this.handled = new Counter({
      name: 'domain_events_handled_total',
      help: 'Domain events handled by this instance, by type and outcome (applied, duplicate)',
      labelNames: ['type', 'outcome'],
      registers: [registry],
    });
    this.messages = new Counter({
      name: 'domain_event_queue_messages_total',
      help: 'Domain event queue deliveries, by result (processed, failed, dead_lettered, retried)',
      labelNames: ['result'],
      registers: [registry],
    });
    this.delay = new Histogram({
      name: 'domain_event_delay_seconds',
      help: 'Seconds from a domain event written to the outbox to its effect committed by a consumer',
      labelNames: ['type'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120],
      registers: [registry],
    });
    for (const result of ['processed', 'failed', 'dead_lettered', 'retried'] as const)
      this.messages.inc({ result }, 0);
  }

  /** Counts a handled event and, when applied, its delay. */
  onHandled(event: DomainEvent, outcome: 'applied' | 'duplicate'): void {
    this.handled.inc({ type: event.type, outcome });
    if (outcome === 'applied')
      this.delay.observe({ type: event.type }, Math.max(0, Date.now() - Date.parse(event.occurredAt)) / 1000);
  }

  /** Counts a queue delivery's outcome. */
  onMessage(result: ConsumeResult): void {
    this.messages.inc({ result });
  }
}
