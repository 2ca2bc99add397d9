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
  const { accounts, roles, sessions } = app.shop;

  app.post<{ Body: { email: string; password: string } }>(
    '/api/sessions',
    // The rate limit runs first (onRequest) and refuses with 503 when its counters cannot be reached.
    { schema: logInSchema, config: { rateLimit: options.rateLimit } },
    async (request) => {
      const { email, password } = request.body;
      // Refuse before looking at the password when no session could be kept: otherwise the right password
      // answers 503 (no session store) and a wrong one 401, and the status code tells them apart.
      await sessions.ensureAvailable();
      // Always the writer: a user who has just signed up must be able to log in at once, on any instance.
      const found = await accounts.findByEmail(email);
      // Unknown emails cost a hash comparison too, so timing does not reveal which emails exist.
      const ok = await verifyPassword(password, found?.passwordHash ?? (await dummyPasswordHash));
      if (!found || !ok) throw unauthorized('email or password is wrong');
      // A new session id on log-in prevents session fixation. The role is not kept in the session: it is
      // read per request, so a change applies to sessions already open.
      await request.session.regenerate();
      request.session.userId = found.user.id;
      return { user: roles.withEffectiveRole(found.user) };
    },
  );

  app.delete('/api/sessions', { schema: logOutSchema }, async (request, reply) => {
    await request.session.destroy();
    return reply.code(204).send();
  });
}
