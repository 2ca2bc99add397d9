// SERVICE and its dependencies in the configuration, the keep-alive default, and the route table's matching.
import { ConfigError, DEFAULT_KEEP_ALIVE_TIMEOUT_MS, loadConfig } from '../../src/config';
import {
  matchesPathPattern,
  ownerOf,
  serves,
  SERVICE_IDS,
  SERVICE_ROUTES,
} from '../../src/services/service-routes';

const SECRET = 'x'.repeat(32);
const shared = { REDIS_URL: 'redis://127.0.0.1:6379', SESSION_SECRET: SECRET };

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('SERVICE', () => {
  test('defaults to the monolith, which needs nothing more', () => {
    const config = loadConfig({});
    expect(config.service).toBe('all');
    expect(config.products).toBeUndefined();
  });

  test('an unknown value is refused naming the variable and the allowed values', () => {
    expect(problemsOf({ SERVICE: 'catalog' })).toEqual([
      'SERVICE must be one of all, users, products, orders (got "catalog"): all = the monolith, else one service of stage 1m',
    ]);
  });

  test('a service needs the shared Redis session store and the shared SESSION_SECRET', () => {
    expect(problemsOf({ SERVICE: 'users' })).toEqual([
      'SERVICE=users needs the shared session store: set REDIS_URL (or REDIS_HOST) and leave SESSION_STORE unset or redis',
      'SERVICE=users needs SESSION_SECRET, the same on every service (they share sessions)',
    ]);
    expect(problemsOf({ SERVICE: 'users', ...shared, SESSION_STORE: 'memory' })).toEqual([
      expect.stringMatching(/^SERVICE=users needs the shared session store/),
    ]);
    expect(loadConfig({ SERVICE: 'users', ...shared }).service).toBe('users');
  });

  test('orders needs PRODUCTS_URL, a base URL; nobody else may set it', () => {
    expect(problemsOf({ SERVICE: 'orders', ...shared })).toEqual([
      'SERVICE=orders needs PRODUCTS_URL, the products service base URL (http://products over Service Connect)',
    ]);
    expect(problemsOf({ SERVICE: 'orders', ...shared, PRODUCTS_URL: 'products:80' })).toEqual([
      expect.stringMatching(/^PRODUCTS_URL must be an http\(s\) base URL/),
    ]);
    expect(problemsOf({ SERVICE: 'users', ...shared, PRODUCTS_URL: 'http://products' })).toEqual([
      'PRODUCTS_URL is set but SERVICE is users: only SERVICE=orders calls products',
    ]);
    const config = loadConfig({ SERVICE: 'orders', ...shared, PRODUCTS_URL: 'http://products/' });
    expect(config.products).toEqual({
      baseUrl: 'http://products',
      timeoutMs: 1500,
      retries: 2,
      budgetMs: 5000,
      breakerResetMs: 5000,
    });
  });

  test('one attempt must fit the budget', () => {
    expect(
      problemsOf({
        SERVICE: 'orders',
        ...shared,
        PRODUCTS_URL: 'http://products',
        PRODUCTS_TIMEOUT_MS: '3000',
        PRODUCTS_BUDGET_MS: '2000',
      }),
    ).toEqual([expect.stringMatching(/^PRODUCTS_BUDGET_MS \(2000\) must be at least PRODUCTS_TIMEOUT_MS/)]);
  });
});

describe('keep-alive', () => {
  test('the default is above the 60 s idle timeout of the ALB and of Service Connect', () => {
    expect(DEFAULT_KEEP_ALIVE_TIMEOUT_MS).toBeGreaterThan(60_000);
    expect(loadConfig({}).keepAliveTimeoutMs).toBe(DEFAULT_KEEP_ALIVE_TIMEOUT_MS);
    expect(loadConfig({ KEEP_ALIVE_TIMEOUT_MS: '90000' }).keepAliveTimeoutMs).toBe(90_000);
    expect(problemsOf({ KEEP_ALIVE_TIMEOUT_MS: 'soon' })).toEqual([
      expect.stringMatching(/KEEP_ALIVE_TIMEOUT_MS/),
    ]);
  });
});

describe('route table', () => {
  test('path patterns match as the ALB does: * is any characters, the rest literal', () => {
    expect(matchesPathPattern('/api/users*', '/api/users')).toBe(true);
    expect(matchesPathPattern('/api/users*', '/api/users/1')).toBe(true);
    expect(matchesPathPattern('/api/users*', '/api/user')).toBe(false);
    expect(matchesPathPattern('/api/me', '/api/me')).toBe(true);
    expect(matchesPathPattern('/api/me', '/api/me/x')).toBe(false);
    expect(matchesPathPattern('/a*b*c', '/a-x-b-y-c')).toBe(true);
    expect(matchesPathPattern('/a*b*c', '/a-c-b')).toBe(false);
  });

  test('every path has one owner; products is the default', () => {
    expect(ownerOf('/api/sessions')).toBe('users');
    expect(ownerOf('/api/admin/users')).toBe('users');
    expect(ownerOf('/api/orders/1')).toBe('orders');
    expect(ownerOf('/api/admin/sales')).toBe('orders');
    expect(ownerOf('/api/products')).toBe('products');
    expect(ownerOf('/index.html')).toBe('products');
    expect(ownerOf('/api/nothing')).toBe('products');
    expect(SERVICE_IDS.filter((id) => SERVICE_ROUTES[id].isDefault)).toEqual(['products']);
  });

  test('each service serves its own paths and the probes; the monolith serves all', () => {
    expect(serves('users', '/api/me')).toBe(true);
    expect(serves('users', '/api/orders')).toBe(false);
    expect(serves('orders', '/healthz')).toBe(true);
    expect(serves('orders', '/readyz')).toBe(true);
    expect(serves('all', '/api/orders')).toBe(true);
  });
});
