import { ConfigError } from '../../src/config';
import { testConfig } from '../support/app';

const REDIS = { REDIS_URL: 'redis://127.0.0.1:6379' };
const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/shop-prod-users-events';

function problemsOf(env: Record<string, string>): string[] {
  try {
    testConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

test('defaults: redis when Redis is configured, else memory; the monolith runs both consumers', () => {
  expect(testConfig().events).toEqual({
    bus: 'memory',
    maxReceives: 5,
    service: 'all',
    consumers: ['products', 'users'],
  });
  expect(testConfig(REDIS).events.bus).toBe('redis');
});

test('SERVICE picks the consumers: users -> users, products -> products, orders -> none', () => {
  // A split service shares sessions in Redis with one secret (services/service-config.ts requires both).
  const split = { ...REDIS, SESSION_SECRET: 's'.repeat(32), PRODUCTS_URL: 'http://products' };
  expect(testConfig({ ...split, SERVICE: 'users', PRODUCTS_URL: '' }).events.consumers).toEqual(['users']);
  expect(testConfig({ ...split, SERVICE: 'products', PRODUCTS_URL: '' }).events.consumers).toEqual([
    'products',
  ]);
  expect(testConfig({ ...split, SERVICE: 'orders' }).events.consumers).toEqual([]);
});

test('eventbridge: bus name and the service queue', () => {
  expect(
    testConfig({
      EVENT_BUS: 'eventbridge',
      EVENT_BUS_NAME: 'shop-prod-events',
      EVENT_QUEUE_URL: QUEUE_URL,
      EVENT_MAX_RECEIVES: '3',
    }).events,
  ).toMatchObject({ bus: 'eventbridge', busName: 'shop-prod-events', queueUrl: QUEUE_URL, maxReceives: 3 });
});

test.each([
  [{ EVENT_BUS: 'kafka' }, /EVENT_BUS must be one of memory, redis, eventbridge, got "kafka"/],
  [{ EVENT_BUS: 'redis' }, /EVENT_BUS=redis needs REDIS_URL or REDIS_HOST/],
  [{ EVENT_BUS: 'eventbridge' }, /EVENT_BUS=eventbridge needs EVENT_BUS_NAME/],
  [{ EVENT_QUEUE_URL: QUEUE_URL }, /EVENT_QUEUE_URL is set but EVENT_BUS is memory/],
  [
    { EVENT_BUS: 'eventbridge', EVENT_BUS_NAME: 'b', EVENT_QUEUE_URL: 'http://queue' },
    /EVENT_QUEUE_URL "http:\/\/queue" is not an SQS queue URL/,
  ],
  [
    { EVENT_BUS: 'eventbridge', EVENT_BUS_NAME: 'bad name!' },
    /EVENT_BUS_NAME "bad name!" is not an EventBridge bus name/,
  ],
  [{ EVENT_MAX_RECEIVES: '0' }, /EVENT_MAX_RECEIVES must be an integer from 1 to 1000, got "0"/],
  [{ SERVICE: 'billing' }, /SERVICE must be one of all, users, products, orders \(got "billing"\)/],
])('%p is refused, naming the variable', (env, message) => {
  expect(problemsOf(env).join('; ')).toMatch(message);
});
