import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { databaseUrlsOf, shopRequestPlans, signUpCustomers } from './shop-traffic';

describe('shopRequestPlans', () => {
  it('takes the products in one turn that reads, orders and nextProductId share', () => {
    const plans = shopRequestPlans(['p0', 'p1', 'p2']);
    const order = plans.placeOrderAs(['sid=a', 'sid=b']);

    expect(plans.productRead().path).toBe('/api/products/p0');
    const placed = order();
    expect(plans.nextProductId()).toBe('p2');
    expect(plans.productRead().path).toBe('/api/products/p0');

    // The second request of the turn: product 1 of 3, customer 1 of 2.
    expect(placed).toEqual({
      op: 'placeOrder',
      method: 'POST',
      path: '/api/orders',
      headers: { cookie: 'sid=b', 'content-type': 'application/json' },
      body: JSON.stringify({ items: [{ productId: 'p1', quantity: 1 }] }),
    });
  });

  it('cycles the customers and the products of orders together', () => {
    const order = shopRequestPlans(['p0', 'p1', 'p2']).placeOrderAs(['sid=a', 'sid=b']);
    const placed = Array.from({ length: 6 }, () => {
      const planned = order();
      const { items } = JSON.parse(planned.body!) as { items: { productId: string }[] };
      return `${planned.headers.cookie} ${items[0].productId}`;
    });
    expect(placed).toEqual(['sid=a p0', 'sid=b p1', 'sid=a p2', 'sid=b p0', 'sid=a p1', 'sid=b p2']);
  });

  it('reads a product without a session', () => {
    expect(shopRequestPlans(['p0']).productRead()).toEqual({
      op: 'productPage',
      method: 'GET',
      path: '/api/products/p0',
      headers: {},
    });
  });
});

describe('databaseUrlsOf', () => {
  it('lists DATABASE_URL first, then the shard endpoints in their order', () => {
    expect(
      databaseUrlsOf({
        DATABASE_URL: 'postgres://s0/app',
        SHARD_ENDPOINTS: JSON.stringify([
          { id: '1', url: 'postgres://s1/app' },
          { id: '2', url: 'postgres://s2/app' },
        ]),
        REDIS_URL: 'redis://r',
      }),
    ).toEqual(['postgres://s0/app', 'postgres://s1/app', 'postgres://s2/app']);
  });
});

describe('signUpCustomers', () => {
  let server: Server;
  let baseUrl: string;
  const received: { headers: IncomingHttpHeaders; body: { email: string } }[] = [];
  let answerStatus = 201;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let text = '';
      req.on('data', (chunk: Buffer) => (text += chunk.toString()));
      req.on('end', () => {
        const n = received.push({ headers: req.headers, body: JSON.parse(text) as { email: string } });
        if (answerStatus !== 201) {
          res.writeHead(answerStatus, { 'content-type': 'application/json' });
          res.end('{"error":"taken"}');
          return;
        }
        res.writeHead(201, {
          'content-type': 'application/json',
          'set-cookie': ['theme=dark; Path=/', `sid=s${n}.sig; Path=/; HttpOnly`],
        });
        res.end(JSON.stringify({ user: { id: `u${n}` } }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  beforeEach(() => {
    received.length = 0;
    answerStatus = 201;
  });

  it('returns each customer id and session cookie in sign-up order, with the given headers and own emails', async () => {
    const customers = await signUpCustomers(baseUrl, 3, { 'x-viewer-country': 'FR' });

    expect(customers).toEqual([
      { userId: 'u1', cookie: 'sid=s1.sig' },
      { userId: 'u2', cookie: 'sid=s2.sig' },
      { userId: 'u3', cookie: 'sid=s3.sig' },
    ]);
    expect(received.map((r) => r.headers['x-viewer-country'])).toEqual(['FR', 'FR', 'FR']);
    expect(new Set(received.map((r) => r.body.email)).size).toBe(3);
  });

  it('fails with the status and the body of an answer other than 201', async () => {
    answerStatus = 409;
    await expect(signUpCustomers(baseUrl, 2)).rejects.toThrow('sign-up failed: 409 {"error":"taken"}');
    expect(received).toHaveLength(1);
  });
});
