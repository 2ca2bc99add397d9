import type { ServiceSelection } from '../services/service-routes';
import { EVENT_CONSUMERS, type EventConsumer } from './event-routes';

/** Which process this is (SERVICE, parsed once in services/service-config.ts). `all` is the monolith. */
export type ServiceId = ServiceSelection;

/** How domain events travel (README "Domain events"); resolved from EVENT_* and SERVICE. */
export interface EventConfig {
  /**
   * EVENT_BUS: `memory` (in process; one process only), `redis` (Redis Streams: the local topology, tests) or
   * `eventbridge` (AWS). Defaults to `redis` when Redis is configured, else `memory`.
   */
  bus: 'memory' | 'redis' | 'eventbridge';
  /** EVENT_BUS_NAME: the EventBridge bus (`<prefix>-events`); required with `eventbridge`. */
  busName?: string;
  /** EVENT_QUEUE_URL: the SQS queue this process consumes (`eventbridge` only); unset = it consumes nothing. */
  queueUrl?: string;
  /** EVENT_MAX_RECEIVES: receives before a message is dead-lettered (SQS: the redrive maxReceiveCount). */
  maxReceives: number;
  /** SERVICE. */
  service: ServiceId;
  /** The consumers this process runs: its service's (both in the monolith, none in orders). */
  consumers: EventConsumer[];
}

const BUSES = ['memory', 'redis', 'eventbridge'] as const;
const SQS_URL = /^https:\/\/sqs\.[a-z0-9-]+\.amazonaws\.com(\.cn)?\/[0-9]{12}\/[A-Za-z0-9_-]{1,80}$/;
const BUS_NAME = /^[A-Za-z0-9._\-/]{1,256}$/;

/**
 * Reads and checks EVENT_BUS, EVENT_BUS_NAME, EVENT_QUEUE_URL and EVENT_MAX_RECEIVES (empty = unset), pushing one
 * message per problem that names the variable and the fix. `context.service` is SERVICE as the service config
 * resolved it (one parser for it: services/service-config.ts).
 */
export function resolveEventConfig(
  source: NodeJS.ProcessEnv,
  context: { redis: boolean; service: ServiceId },
  problems: string[],
): EventConfig {
  const get = (name: string) => (source[name] === '' ? undefined : source[name]);
  const { service } = context;
  const busValue = get('EVENT_BUS');
  if (busValue !== undefined && !(BUSES as readonly string[]).includes(busValue))
    problems.push(`EVENT_BUS must be one of ${BUSES.join(', ')}, got "${busValue}"`);
  const bus = (busValue ?? (context.redis ? 'redis' : 'memory')) as EventConfig['bus'];
  if (bus === 'redis' && !context.redis)
    problems.push('EVENT_BUS=redis needs REDIS_URL or REDIS_HOST (or set EVENT_BUS=memory)');
  const busName = get('EVENT_BUS_NAME');
  const queueUrl = get('EVENT_QUEUE_URL');
  if (bus === 'eventbridge' && busName === undefined)
    problems.push('EVENT_BUS=eventbridge needs EVENT_BUS_NAME (the bus name from the stack outputs)');
  if (busName !== undefined && !BUS_NAME.test(busName))
    problems.push(`EVENT_BUS_NAME "${busName}" is not an EventBridge bus name (letters, digits, . _ - /)`);
  if (queueUrl !== undefined && bus !== 'eventbridge')
    problems.push(
      `EVENT_QUEUE_URL is set but EVENT_BUS is ${bus}: set EVENT_BUS=eventbridge or remove the URL`,
    );
  if (queueUrl !== undefined && !SQS_URL.test(queueUrl))
    problems.push(
      `EVENT_QUEUE_URL "${queueUrl}" is not an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)`,
    );
  const receivesText = get('EVENT_MAX_RECEIVES') ?? '5';
  const maxReceives = Number(receivesText);
  if (!/^\d+$/.test(receivesText) || maxReceives < 1 || maxReceives > 1000)
    problems.push(`EVENT_MAX_RECEIVES must be an integer from 1 to 1000, got "${receivesText}"`);
  const consumers: EventConsumer[] =
    service === 'all' ? [...EVENT_CONSUMERS] : EVENT_CONSUMERS.filter((c) => c === service);
  return {
    bus,
    ...(busName !== undefined ? { busName } : {}),
    ...(queueUrl !== undefined ? { queueUrl } : {}),
    maxReceives,
    service,
    consumers,
  };
}
