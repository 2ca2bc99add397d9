import type { FastifyInstance } from 'fastify';
import { afterWrite, requireUser } from '../../context';
import { unauthorized } from '../../errors';
import { hashPassword } from '../../passwords';
import { meSchema, signUpSchema } from '../../schemas/users';

/** Options of the user routes. */
export interface UserRoutesOptions {
  /** @fastify/rate-limit route config for sign-up. */
  rateLimit: { max: number; timeWindow: number };
}

/** POST /api/users (sign up, also logs in) and GET /api/me. */
export async function userRoutes(app: FastifyInstance, options: UserRoutesOptions): Promise<void> {
  const { db, users, config, reads } = app.shop;

  app.post<{ Body: { email: string; password: string; name: string } }>(
    '/api/users',
    { schema: signUpSchema, config: { rateLimit: options.rateLimit } },
    async (request, reply) => {
      const { email, password, name } = request.body;
      const role = config.adminEmails.has(email.toLowerCase()) ? 'admin' : 'customer';
      const user = await users.create(db.writer, {
        email,
        name,
        passwordHash: await hashPassword(password),
        role,
      });
      await request.session.regenerate();
      request.session.userId = user.id;
      request.session.role = user.role;
      await afterWrite(app.shop, request.session, []);
      return reply.code(201).send({ user });
    },
  );

  app.get('/api/me', { schema: meSchema }, async (request) => {
    const { userId } = requireUser(request);
    const user = await users.get(await reads.readerFor(request.session), userId);
    if (!user) {
      // The user was deleted while the session lived on.
      await request.session.destroy();
      throw unauthorized();
    }
    return { user };
  });
}
