/**
 * Stage 1m is built from two tables written twice, once for the infrastructure (lib/, stages/) and once for the
 * app (app/src/): which paths each service owns, and which events each consumer's queue receives. lib/ does not
 * import the app, so this test keeps the copies equal: a listener rule that sends a path to a service that does
 * not serve it, or an EventBridge rule for an event no consumer handles, fails here and not in a deployment.
 */
import { DEFAULT_KEEP_ALIVE_TIMEOUT_MS } from '../../app/src/config';
import {
  CACHE_INVALIDATION_DETAIL_TYPE,
  EVENT_ROUTES as APP_EVENT_ROUTES,
  EVENT_SOURCES,
  invalidationSource,
} from '../../app/src/events/event-routes';
import { SERVICE_ROUTES } from '../../app/src/services/service-routes';
import { SERVICE_CONNECT_DEFAULTS } from '../../lib/config/defaults';
import {
  CACHE_INVALIDATION_EVENT_TYPE,
  EVENT_ROUTES as LIB_EVENT_ROUTES,
  eventSource,
} from '../../lib/config/event-routes';
import { stage1m } from '../../stages';

const sorted = (values: readonly string[]) => [...values].sort();

test('every service of stage 1m answers exactly the paths the app routes to it', () => {
  // GIVEN the stage's services and the app's route table
  const stageServices = stage1m.services;
  // THEN the same service ids, and per service the same path patterns
  expect(sorted(Object.keys(stageServices))).toEqual(sorted(Object.keys(SERVICE_ROUTES)));
  for (const [id, routes] of Object.entries(SERVICE_ROUTES)) {
    const stageService = stageServices[id as keyof typeof stageServices];
    expect({ id, paths: sorted(stageService.route.pathPatterns) }).toEqual({
      id,
      paths: sorted(routes.pathPatterns),
    });
  }
  // AND the gateway's default (storefront, unmatched paths) is the app's default service
  const appDefault = Object.entries(SERVICE_ROUTES).filter(([, routes]) => routes.isDefault);
  expect(appDefault.map(([id]) => id)).toEqual([stage1m.gateway.defaultService]);
});

test("EventBridge rules route each consumer exactly the event types the app's consumers handle", () => {
  expect(sorted(Object.keys(LIB_EVENT_ROUTES))).toEqual(sorted(Object.keys(APP_EVENT_ROUTES)));
  for (const [consumer, types] of Object.entries(APP_EVENT_ROUTES)) {
    expect({ consumer, types: sorted(LIB_EVENT_ROUTES[consumer] ?? []) }).toEqual({
      consumer,
      types: sorted(types),
    });
  }
  expect(CACHE_INVALIDATION_EVENT_TYPE).toBe(CACHE_INVALIDATION_DETAIL_TYPE);
});

test('the app publishes every event with the source its task role may use (shop.<service>)', () => {
  const serviceIds = Object.keys(stage1m.services);
  for (const source of Object.values(EVENT_SOURCES))
    expect(serviceIds.map((id) => eventSource(id))).toContain(source);
  for (const id of serviceIds)
    expect(invalidationSource(id as 'users' | 'products' | 'orders')).toBe(eventSource(id));
});

test("Service Connect drops idle connections before the app's keep-alive does", () => {
  expect(SERVICE_CONNECT_DEFAULTS.idleTimeout.toMilliseconds()).toBeLessThan(DEFAULT_KEEP_ALIVE_TIMEOUT_MS);
});
