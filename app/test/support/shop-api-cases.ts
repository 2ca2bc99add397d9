import type { FastifyInstance } from 'fastify';
import { invalidationsApplied, metricValue, sessionCookie, signUp, signUpAdmin, uniqueEmail } from './app';

/** What a test file provides to run the shared API cases against one set of adapters. */
export interface ShopUnderTest {
  app: FastifyInstance;
  /** An email listed in the app's ADMIN_EMAILS. */
  adminEmail: string;
}

/**
 * The HTTP contract of the shop, run unchanged against the embedded adapters (PGlite, in-process cache and
 * sessions) and the real ones (Postgres, Redis): port contract tests through `inject`.
 */
export function describeShopApi(label: string, get: () => ShopUnderTest): void {
  describe(`shop API (${label})`, () => {
    let admin: string;
    let customer: Awaited<ReturnType<typeof signUp>>;
    const products: { id: string; priceCents: number; stock: number; name: string }[] = [];
    const word = `zq${Date.now().toString(36)}`;
    const skuPrefix = `sku${Math.random().toString(36).slice(2, 8)}`;

    beforeAll(async () => {
      const { app, adminEmail } = get();
      admin = (await signUpAdmin(app, adminEmail)).cookie;
      customer = await signUp(app);
      for (const [i, priceCents] of [1250, 999, 4000].entries()) {
        const response = await app.inject({
          method: 'POST',
          url: '/api/products',
          headers: { cookie: admin },
          payload: {
            sku: `${skuPrefix}-${i}`,
            name: `${i === 1 ? word : 'Plain'} thing ${i}`,
            priceCents,
            stock: 5,
          },
        });
        expect(response.statusCode).toBe(201);
        products.push(response.json());
      }
    });

    describe('users and sessions', () => {
      test('sign-up returns the user without secrets and a signed httpOnly sid cookie', async () => {
        const email = uniqueEmail('Mixed.Case');
        const response = await get().app.inject({
          method: 'POST',
          url: '/api/users',
          payload: { email, password: 'long enough password', name: 'Ann' },
        });
        expect(response.statusCode).toBe(201);
        const { user } = response.json();
        expect(user).toEqual({
          id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
          email: email.toLowerCase(),
          name: 'Ann',
          role: 'customer',
          createdAt: expect.any(String),
        });
        const cookie = String(response.headers['set-cookie']);
        expect(cookie).toMatch(/^sid=[^;]+\.[^;]+;/); // value.signature
        expect(cookie).toContain('HttpOnly');
        expect(cookie).toContain('SameSite=Lax');
      });

      test('a user granted the admin role whose email is in ADMIN_EMAILS is an admin', async () => {
        const me = await get().app.inject({ method: 'GET', url: '/api/me', headers: { cookie: admin } });
        expect(me.json().user.role).toBe('admin');
      });

      test('duplicate email (any case) is 409', async () => {
        const response = await get().app.inject({
          method: 'POST',
          url: '/api/users',
          payload: { email: customer.email.toUpperCase(), password: 'another password', name: 'Dup' },
        });
        expect(response.statusCode).toBe(409);
        expect(response.json().message).toMatch(/email/);
      });

      test('log in, /api/me, log out', async () => {
        const { app } = get();
        const wrong = await app.inject({
          method: 'POST',
          url: '/api/sessions',
          payload: { email: customer.email, password: 'not the password' },
        });
        expect(wrong.statusCode).toBe(401);
        const unknown = await app.inject({
          method: 'POST',
          url: '/api/sessions',
          payload: { email: 'nobody@example.test', password: 'whatever1' },
        });
        expect(unknown.statusCode).toBe(401);

        const login = await app.inject({
          method: 'POST',
          url: '/api/sessions',
          payload: { email: customer.email, password: customer.password },
        });
        expect(login.statusCode).toBe(200);
        expect(login.json().user.id).toBe(customer.user.id);
        const cookie = sessionCookie(login);
        expect(cookie).not.toBe(customer.cookie); // a new session id on log-in

        const me = await app.inject({ method: 'GET', url: '/api/me', headers: { cookie } });
        expect(me.statusCode).toBe(200);
        expect(me.json().user.email).toBe(customer.email);

        const logout = await app.inject({ method: 'DELETE', url: '/api/sessions', headers: { cookie } });
        expect(logout.statusCode).toBe(204);
        const after = await app.inject({ method: 'GET', url: '/api/me', headers: { cookie } });
        expect(after.statusCode).toBe(401);
      });

      test('no session or a forged cookie is 401', async () => {
        const { app } = get();
        expect((await app.inject({ method: 'GET', url: '/api/me' })).statusCode).toBe(401);
        const forged = customer.cookie.replace(/\.[^.]+$/, '.forgedsignature');
        expect(
          (await app.inject({ method: 'GET', url: '/api/me', headers: { cookie: forged } })).statusCode,
        ).toBe(401);
      });
    });

    describe('bad input is a 4xx naming the field', () => {
      const cases: [string, Record<string, unknown>, RegExp][] = [
        [
          'unknown field',
          { email: 'a@example.test', password: 'password1', name: 'A', isAdmin: true },
          /body\/isAdmin is not allowed/,
        ],
        [
          'wrong type',
          { email: 'a@example.test', password: 12345678, name: 'A' },
          /body\/password must be string/,
        ],
        ['missing field', { email: 'a@example.test', password: 'password1' }, /body\/name is required/],
        [
          'bad email',
          { email: 'not-an-email', password: 'password1', name: 'A' },
          /body\/email must match format "email"/,
        ],
        [
          'short password',
          { email: 'a@example.test', password: 'short', name: 'A' },
          /body\/password must NOT have fewer than 8 characters/,
        ],
      ];
      test.each(cases)('%s', async (_name, payload, message) => {
        const response = await get().app.inject({ method: 'POST', url: '/api/users', payload });
        expect(response.statusCode).toBe(400);
        expect(response.json()).toEqual({
          statusCode: 400,
          error: 'Bad Request',
          message: expect.stringMatching(message),
        });
      });

      test('malformed JSON is 400', async () => {
        const response = await get().app.inject({
          method: 'POST',
          url: '/api/sessions',
          headers: { 'content-type': 'application/json' },
          payload: '{"email": "a@example.test", "password": ',
        });
        expect(response.statusCode).toBe(400);
        expect(response.json().error).toBe('Bad Request');
      });

      test('an oversize body is 413', async () => {
        const response = await get().app.inject({
          method: 'POST',
          url: '/api/users',
          payload: { email: 'a@example.test', password: 'x'.repeat(200_000), name: 'A' },
        });
        expect(response.statusCode).toBe(413);
      });

      test('bad ids, cursors and limits are 400', async () => {
        const { app } = get();
        const badId = await app.inject({ method: 'GET', url: '/api/products/not-a-uuid' });
        expect(badId.statusCode).toBe(400);
        expect(badId.json().message).toMatch(/params\/id must be a UUID written as 8-4-4-4-12/);
        const badCursor = await app.inject({ method: 'GET', url: '/api/products?cursor=1%27%20OR%201=1' });
        expect(badCursor.statusCode).toBe(400);
        expect(badCursor.json().message).toMatch(/querystring\/cursor/);
        const badLimit = await app.inject({ method: 'GET', url: '/api/products?limit=1000' });
        expect(badLimit.statusCode).toBe(400);
        expect(badLimit.json().message).toMatch(/querystring\/limit must be <= 100/);
        const badOrderId = await app.inject({
          method: 'GET',
          url: '/api/orders/123',
          headers: { cookie: customer.cookie },
        });
        expect(badOrderId.statusCode).toBe(400);
      });

      // Forms the JSON-schema `uuid` format or PostgreSQL accept but that are not the one canonical form.
      const otherForms = (id: string) => ({
        urn: `urn:uuid:${id}`,
        braced: `{${id}}`,
        unhyphenated: id.replace(/-/g, ''),
        'upper-case URN': `URN:UUID:${id.toUpperCase()}`,
      });

      test('ids in any non-canonical form are a 400 naming the field, wherever they arrive', async () => {
        const { app } = get();
        const id = products[0].id;
        for (const [form, other] of Object.entries(otherForms(id))) {
          const where = [
            [
              await app.inject({ method: 'GET', url: `/api/products/${encodeURIComponent(other)}` }),
              /^params\/id must be a UUID/,
            ],
            [
              await app.inject({ method: 'GET', url: `/api/products?cursor=${encodeURIComponent(other)}` }),
              /^querystring\/cursor must be a UUID/,
            ],
            [
              await app.inject({
                method: 'GET',
                url: `/api/orders/${encodeURIComponent(other)}`,
                headers: { cookie: customer.cookie },
              }),
              /^params\/id must be a UUID/,
            ],
            [
              await app.inject({
                method: 'POST',
                url: '/api/orders',
                headers: { cookie: customer.cookie },
                payload: { items: [{ productId: other, quantity: 1 }] },
              }),
              /^body\/items\/0\/productId must be a UUID/,
            ],
            [
              await app.inject({
                method: 'PATCH',
                url: `/api/products/${encodeURIComponent(other)}`,
                headers: { cookie: admin },
                payload: { priceCents: 1 },
              }),
              /^params\/id must be a UUID/,
            ],
          ] as const;
          for (const [response, message] of where) {
            expect({ form, status: response.statusCode }).toEqual({ form, status: 400 });
            expect(response.json().message).toMatch(message);
          }
        }
      });

      test('an upper-case id is the same product: one cache entry, and a PATCH through it is seen by every spelling', async () => {
        const { app } = get();
        // A product of this test's own: it changes price and stock.
        const { id } = (
          await app.inject({
            method: 'POST',
            url: '/api/products',
            headers: { cookie: admin },
            payload: { sku: `${skuPrefix}-case`, name: 'Case study', priceCents: 700, stock: 10 },
          })
        ).json();
        const upper = id.toUpperCase();
        const got = await app.inject({ method: 'GET', url: `/api/products/${upper}` });
        expect(got.statusCode).toBe(200);
        expect(got.json().id).toBe(id);
        // 50 spellings of the id after one warm-up read: no query reaches the database.
        await app.inject({ method: 'GET', url: `/api/products/${id}` });
        const queries = async () =>
          (await metricValue(app, 'db_queries_total{pool="writer"}')) +
          (await metricValue(app, 'db_queries_total{pool="reader"}'));
        const before = await queries();
        for (let i = 0; i < 50; i++) {
          const variant = [...id]
            .map((c, j) => ((i >> (j % 6)) & 1 ? c.toUpperCase() : c))
            .join('')
            .slice(0, 36);
          const variantResponse = await app.inject({ method: 'GET', url: `/api/products/${variant}` });
          expect(variantResponse.json().id).toBe(id);
        }
        expect((await queries()) - before).toBe(0);

        // An update through the upper-case spelling invalidates the entry every spelling reads.
        const patched = await app.inject({
          method: 'PATCH',
          url: `/api/products/${upper}`,
          headers: { cookie: admin },
          payload: { priceCents: 1234 },
        });
        expect(patched.statusCode).toBe(200);
        expect(patched.json().id).toBe(id);
        for (const spelling of [id, upper]) {
          expect(
            (await app.inject({ method: 'GET', url: `/api/products/${spelling}` })).json().priceCents,
          ).toBe(1234);
        }
        // A line naming the product in upper case is the same line as its lower-case twin.
        const order = await app.inject({
          method: 'POST',
          url: '/api/orders',
          headers: { cookie: customer.cookie },
          payload: {
            items: [
              { productId: upper, quantity: 1 },
              { productId: id, quantity: 1 },
            ],
          },
        });
        expect(order.statusCode).toBe(201);
        expect(order.json().items).toEqual([expect.objectContaining({ productId: id, quantity: 2 })]);
      });

      test('searches that run the same query share one cache entry', async () => {
        const { app } = get();
        // Earlier writes' invalidation events bump `catalog` when they arrive: let them land first, so the
        // misses counted below are this test's own.
        await invalidationsApplied(app);
        const term = `kw${Math.random().toString(36).slice(2, 8)}`;
        const misses = () => metricValue(app, 'cache_requests_total{result="miss"}');
        const before = await misses();
        const bodies = [];
        for (const q of [term, `${term}!`, `${term}!!`, ` ${term.toUpperCase()} `, `(${term})`]) {
          const response = await app.inject({ method: 'GET', url: '/api/products', query: { q } });
          expect(response.statusCode).toBe(200);
          bodies.push(response.body);
        }
        expect((await misses()) - before).toBe(1);
        expect(new Set(bodies).size).toBe(1);
      });

      const unstorable: [string, string][] = [
        ['a NUL character', 'Bad\u0000name'],
        ['a lone high surrogate', 'Bad\uD800name'],
        ['a lone low surrogate', 'Bad\uDC00name'],
        ['a surrogate pair in the wrong order', '\uDE00\uD83D'],
      ];
      test.each(unstorable)(
        'text with %s is a 400 naming the field, wherever it would reach the database',
        async (_what, text) => {
          const { app } = get();
          const storableMessage = /must not contain NUL characters or unpaired UTF-16 surrogates/;
          const cases = [
            [
              'body/name',
              await app.inject({
                method: 'POST',
                url: '/api/users',
                payload: { email: uniqueEmail('text'), password: 'long enough password', name: text },
              }),
            ],
            [
              'body/password',
              await app.inject({
                method: 'POST',
                url: '/api/users',
                payload: { email: uniqueEmail('text'), password: `long enough ${text}`, name: 'N' },
              }),
            ],
            [
              'body/email',
              await app.inject({
                method: 'POST',
                url: '/api/sessions',
                payload: { email: `a${text}@example.test`, password: 'whatever1' },
              }),
            ],
            [
              'body/name',
              await app.inject({
                method: 'POST',
                url: '/api/products',
                headers: { cookie: admin },
                payload: { sku: `${skuPrefix}-t`, name: text, priceCents: 1, stock: 1 },
              }),
            ],
            [
              'body/description',
              await app.inject({
                method: 'PATCH',
                url: `/api/products/${products[2].id}`,
                headers: { cookie: admin },
                payload: { description: text },
              }),
            ],
            // A URL cannot carry a lone surrogate (encoders turn it into U+FFFD), but it can carry a NUL.
            ...(text.includes('\u0000')
              ? ([
                  [
                    'querystring/q',
                    await app.inject({ method: 'GET', url: '/api/products', query: { q: text } }),
                  ],
                ] as const)
              : []),
          ] as const;
          for (const [field, response] of cases) {
            expect({ field, status: response.statusCode }).toEqual({ field, status: 400 });
            expect(response.json().message).toMatch(new RegExp(`^${field}`));
            // Email is checked by its format first on some inputs; either way the field is named.
            if (field !== 'body/email') expect(response.json().message).toMatch(storableMessage);
          }
        },
      );

      test('text outside the Basic Multilingual Plane (a valid surrogate pair) is stored exactly', async () => {
        const { app } = get();
        const name = 'Mug \u{1F375} \u00E9t\u00E9';
        const created = await app.inject({
          method: 'POST',
          url: '/api/products',
          headers: { cookie: admin },
          payload: { sku: `${skuPrefix}-emoji`, name, priceCents: 1, stock: 1 },
        });
        expect(created.statusCode).toBe(201);
        const stored = await app.shop.db.query<{ name: string }>('SELECT name FROM products WHERE id = $1', [
          created.json().id,
        ]);
        expect(stored.rows[0].name).toBe(name);
      });

      test('unknown routes are a JSON 404', async () => {
        const response = await get().app.inject({ method: 'GET', url: '/api/nothing-here' });
        expect(response.statusCode).toBe(404);
        expect(response.json().error).toBe('Not Found');
      });
    });

    describe('catalog', () => {
      test('pagination walks every product exactly once, in id order', async () => {
        const { app } = get();
        const seen: string[] = [];
        let cursor: string | null = null;
        do {
          const url: string = `/api/products?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
          const page = (await app.inject({ method: 'GET', url })).json();
          expect(page.items.length).toBeLessThanOrEqual(2);
          seen.push(...page.items.map((p: { id: string }) => p.id));
          cursor = page.nextCursor;
        } while (cursor);
        expect(new Set(seen).size).toBe(seen.length);
        expect([...seen].sort()).toEqual(seen);
        for (const product of products) expect(seen).toContain(product.id);
      });

      test('search finds products by a word prefix', async () => {
        const response = await get().app.inject({
          method: 'GET',
          url: `/api/products?q=${word.slice(0, -1)}`,
        });
        expect(response.statusCode).toBe(200);
        const ids = response.json().items.map((p: { id: string }) => p.id);
        expect(ids).toEqual([products[1].id]);
        const none = await get().app.inject({
          method: 'GET',
          url: `/api/products?q=${encodeURIComponent("') OR 1=1 --")}`,
        });
        expect(none.statusCode).toBe(200);
      });

      test('get one, 404 for an unknown id', async () => {
        const { app } = get();
        const one = await app.inject({ method: 'GET', url: `/api/products/${products[0].id}` });
        expect(one.json()).toMatchObject({ id: products[0].id, priceCents: 1250, stock: 5 });
        const missing = await app.inject({
          method: 'GET',
          url: '/api/products/01900000-0000-7000-8000-000000000000',
        });
        expect(missing.statusCode).toBe(404);
      });

      test('admin routes: 401 anonymous, 403 customer, 409 duplicate sku', async () => {
        const { app } = get();
        const payload = { sku: `${skuPrefix}-x`, name: 'X', priceCents: 1, stock: 1 };
        expect((await app.inject({ method: 'POST', url: '/api/products', payload })).statusCode).toBe(401);
        const asCustomer = await app.inject({
          method: 'POST',
          url: '/api/products',
          headers: { cookie: customer.cookie },
          payload,
        });
        expect(asCustomer.statusCode).toBe(403);
        const patch = await app.inject({
          method: 'PATCH',
          url: `/api/products/${products[0].id}`,
          headers: { cookie: customer.cookie },
          payload: { priceCents: 1 },
        });
        expect(patch.statusCode).toBe(403);
        const duplicate = await app.inject({
          method: 'POST',
          url: '/api/products',
          headers: { cookie: admin },
          payload: { ...payload, sku: `${skuPrefix}-0` },
        });
        expect(duplicate.statusCode).toBe(409);
      });

      test('a cached product is served from the cache, and an update invalidates it', async () => {
        const { app } = get();
        const url = `/api/products/${products[2].id}`;
        await app.inject({ method: 'GET', url });
        // A hit in either level: this process's first-level cache, or the shared store behind it.
        const hitsAtEitherLevel = async () =>
          (await metricValue(app, 'cache_requests_total{result="hit"}')) +
          (await metricValue(app, 'first_level_cache_requests_total{result="hit"}'));
        const hits = await hitsAtEitherLevel();
        expect((await app.inject({ method: 'GET', url })).json().priceCents).toBe(4000);
        expect(await hitsAtEitherLevel()).toBe(hits + 1);

        const patch = await app.inject({
          method: 'PATCH',
          url,
          headers: { cookie: admin },
          payload: { priceCents: 4500 },
        });
        expect(patch.statusCode).toBe(200);
        expect(patch.json().priceCents).toBe(4500);
        expect((await app.inject({ method: 'GET', url })).json().priceCents).toBe(4500);
        const list = (await app.inject({ method: 'GET', url: `/api/products?q=${skuPrefix}-2` })).json();
        expect(list.items[0]?.priceCents ?? 4500).toBe(4500);
      });
    });

    describe('orders', () => {
      test('placing an order prices it from the catalog and takes the stock', async () => {
        const { app } = get();
        const response = await app.inject({
          method: 'POST',
          url: '/api/orders',
          headers: { cookie: customer.cookie },
          payload: {
            items: [
              { productId: products[0].id, quantity: 2 },
              { productId: products[1].id, quantity: 1 },
            ],
          },
        });
        expect(response.statusCode).toBe(201);
        const order = response.json();
        expect(order).toMatchObject({
          userId: customer.user.id,
          status: 'placed',
          totalCents: 2 * 1250 + 999,
          items: [
            { productId: products[0].id, quantity: 2, unitPriceCents: 1250, name: products[0].name },
            { productId: products[1].id, quantity: 1, unitPriceCents: 999 },
          ],
        });
        const product = (await app.inject({ method: 'GET', url: `/api/products/${products[0].id}` })).json();
        expect(product.stock).toBe(3);

        const list = (
          await app.inject({ method: 'GET', url: '/api/orders', headers: { cookie: customer.cookie } })
        ).json();
        expect(list.items.map((o: { id: string }) => o.id)).toContain(order.id);
        const one = await app.inject({
          method: 'GET',
          url: `/api/orders/${order.id}`,
          headers: { cookie: customer.cookie },
        });
        expect(one.json()).toEqual(order);

        const other = await signUp(app);
        const foreign = await app.inject({
          method: 'GET',
          url: `/api/orders/${order.id}`,
          headers: { cookie: other.cookie },
        });
        expect(foreign.statusCode).toBe(404);
      });

      test('more than the stock is 409 and changes nothing', async () => {
        const { app } = get();
        const before = (await app.inject({ method: 'GET', url: `/api/products/${products[1].id}` })).json()
          .stock;
        const response = await app.inject({
          method: 'POST',
          url: '/api/orders',
          headers: { cookie: customer.cookie },
          payload: {
            items: [
              { productId: products[2].id, quantity: 1 },
              { productId: products[1].id, quantity: 99 },
            ],
          },
        });
        expect(response.statusCode).toBe(409);
        expect(response.json().message).toMatch(/body\/items\/1\/productId: only \d+ .* in stock/);
        expect(
          (await app.inject({ method: 'GET', url: `/api/products/${products[1].id}` })).json().stock,
        ).toBe(before);
        expect(
          (await app.inject({ method: 'GET', url: `/api/products/${products[2].id}` })).json().stock,
        ).toBe(5);
      });

      test('bad orders are 4xx naming the field; anonymous is 401', async () => {
        const { app } = get();
        const post = (payload: unknown, cookie = customer.cookie) =>
          app.inject({ method: 'POST', url: '/api/orders', headers: { cookie }, payload: payload as object });
        const unknown = await post({
          items: [{ productId: '01900000-0000-7000-8000-000000000000', quantity: 1 }],
        });
        expect(unknown.statusCode).toBe(400);
        expect(unknown.json().message).toMatch(/body\/items\/0\/productId: product .* does not exist/);
        const stringQuantity = await post({ items: [{ productId: products[0].id, quantity: '1' }] });
        expect(stringQuantity.statusCode).toBe(400);
        expect(stringQuantity.json().message).toMatch(/body\/items\/0\/quantity must be integer/);
        const zero = await post({ items: [{ productId: products[0].id, quantity: 0 }] });
        expect(zero.json().message).toMatch(/body\/items\/0\/quantity must be >= 1/);
        expect((await post({ items: [] })).statusCode).toBe(400);
        const anonymous = await app.inject({
          method: 'POST',
          url: '/api/orders',
          payload: { items: [{ productId: products[0].id, quantity: 1 }] },
        });
        expect(anonymous.statusCode).toBe(401);
      });
    });

    describe('operations', () => {
      test('/healthz, /readyz, and /metrics on the metrics server only', async () => {
        const { app } = get();
        expect((await app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
        const ready = await app.inject({ method: 'GET', url: '/readyz' });
        expect(ready.statusCode).toBe(200);
        expect(ready.json()).toMatchObject({ status: 'ready', database: 'ok' });
        const metrics = await app.metricsServer.inject({ method: 'GET', url: '/metrics' });
        expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
        for (const name of [
          'db_queries_total{pool="writer"}',
          'db_queries_total{pool="reader"}',
          'cache_requests_total{result="hit"}',
          'cache_requests_total{result="miss"}',
          'cache_requests_total{result="error"}',
          'http_request_duration_seconds_bucket',
          'process_cpu_seconds_total',
        ]) {
          expect(metrics.body).toContain(name);
        }
        expect(await metricValue(app, 'db_queries_total{pool="writer"}')).toBeGreaterThan(0);
        expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(404);
      });

      test('every response carries a request id, and a given x-request-id is kept', async () => {
        const response = await get().app.inject({
          method: 'GET',
          url: '/healthz',
          headers: { 'x-request-id': 'abc-123' },
        });
        expect(response.headers['x-request-id']).toBe('abc-123');
      });
    });
  });
}
