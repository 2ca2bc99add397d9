import Fastify from 'fastify';
import { RenderedJson } from '../src/routes/products/rendered-json';

describe('RenderedJson', () => {
  const schema = {
    response: {
      200: {
        type: 'object',
        properties: { id: { type: 'string' }, priceCents: { type: 'integer' } },
        additionalProperties: false,
      },
    },
  } as const;

  async function server(values: () => object) {
    const app = Fastify();
    let serialised = 0;
    // fastify's own serializer, counted.
    app.setSerializerCompiler(() => (data) => {
      serialised += 1;
      const { id, priceCents } = data as { id: string; priceCents: number };
      return JSON.stringify({ id, priceCents });
    });
    const rendered = new RenderedJson();
    app.get('/thing', { schema }, async (_request, reply) => rendered.send(reply, values()));
    await app.ready();
    return { app, serialised: () => serialised };
  }

  it('sends the body the route would serialise, as JSON, rendering one cached copy once', async () => {
    const cached = { id: 'a', priceCents: 100, secret: 'not in the schema' };
    const { app, serialised } = await server(() => cached);
    for (let i = 0; i < 3; i++) {
      const response = await app.inject({ method: 'GET', url: '/thing' });
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(response.json()).toEqual({ id: 'a', priceCents: 100 });
    }
    expect(serialised()).toBe(1);
    await app.close();
  });

  it('renders a new copy of the value (after an eviction and reload) again, never the old body', async () => {
    let current = { id: 'a', priceCents: 100 };
    const { app, serialised } = await server(() => current);
    expect((await app.inject({ method: 'GET', url: '/thing' })).json()).toEqual({ id: 'a', priceCents: 100 });
    current = { id: 'a', priceCents: 250 };
    expect((await app.inject({ method: 'GET', url: '/thing' })).json()).toEqual({ id: 'a', priceCents: 250 });
    expect(serialised()).toBe(2);
    await app.close();
  });
});
