import type { FastifyInstance } from 'fastify';
import { unauthorized } from '../../errors';
import { dummyPasswordHash, verifyPassword } from '../../passwords';
import { logInSchema, logOutSchema } from '../../schemas/users';

/** Options of the session routes. */
export interface SessionRoutesOptions {
  /** @fastify/rate-limit route config for log-in. */
  rateLimit: { max: number; timeWindow: number };
}

/** POST /api/sessions (log in) and DELETE /api/sessions (log out). */
export async function sessionRoutes(app: FastifyInstance, options: SessionRoutesOptions): Promise<void> {
  const { db, users } = app.shop;

  app.post<{ Body: { email: string; password: string } }>(
    '/api/sessions',
    { schema: logInSchema, config: { rateLimit: options.rateLimit } },
    async (request) => {
      const { email, password } = request.body;
      // Always the writer: a user who has just signed up must be able to log in at once, on any instance.
      const found = await users.findByEmail(db.writer, email);
      // Unknown emails cost a hash comparison too, so timing does not reveal which emails exist.
      const ok = await verifyPassword(password, found?.passwordHash ?? (await dummyPasswordHash));
      if (!found || !ok) throw unauthorized('email or password is wrong');
      // A new session id on log-in prevents session fixation.
      await request.session.regenerate();
      request.session.userId = found.user.id;
      request.session.role = found.user.role;
      return { user: found.user };
    },
  );

  app.delete('/api/sessions', { schema: logOutSchema }, async (request, reply) => {
    await request.session.destroy();
    return reply.code(204).send();
  });
}
