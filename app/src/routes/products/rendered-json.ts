import type { FastifyReply } from 'fastify';

/**
 * The JSON of each cached page, rendered once per cached copy: a first-level cache hit hands back the same
 * object every time, so its body is serialised by the route's response schema on the first send and reused
 * until the copy leaves the cache (and this map with it, being weak). A value that is not cached (a miss, a
 * read-your-writes read) is a fresh object and is rendered once, as without this.
 */
export class RenderedJson {
  private readonly bodies = new WeakMap<object, ReturnType<FastifyReply['serialize']>>();

  /** Sends `value` as the route's 200 response, rendering it with the route's serializer unless done before. */
  send(reply: FastifyReply, value: object): FastifyReply {
    let body = this.bodies.get(value);
    if (body === undefined) {
      body = reply.serialize(value);
      this.bodies.set(value, body);
    }
    return reply.header('content-type', 'application/json; charset=utf-8').send(body);
  }
}
