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

/**
 * POST /api/users (sign up, also logs in) and GET /api/me. Everyone signs up as a customer: the admin role is
 * granted only by the one-off admin command (`npm run admin -- grant <email>`), never by an email address at
 * sign-up (emails are not verified).
 */
export async function userRoutes(app: FastifyInstance, options: UserRoutesOptions): Promise<void> {
  const shop = app.shop;
  const { accounts, userData, users, roles, sessions } = shop;

  app.post<{ Body: { email: string; password: string; name: string } }>(
    '/api/users',
    { schema: signUpSchema, config: { rateLimit: options.rateLimit } },
    async (request, reply) => {
      const { email, password, name } = request.body;
      // No user row without a session to go with it: a sign-up answered 503 must be retryable as is, not
      // turn into "email is already registered".
      await sessions.ensureAvailable();
      const { user, place } = await accounts.create({
        email,
        name,
        passwordHash: await hashPassword(password),
        role: 'customer',
      });
      try {
        // Both write to the store; saved here rather than when the response is sent, so that a store
        // failing in between can still be answered by taking the user back out.
        await request.session.regenerate();
        request.session.userId = user.id;
        // A Secure cookie is never sent over plain HTTP (production behind anything but the ALB's HTTPS
        // listener): the session plugin would not store it either.
        if (!(request.session.cookie.secure && request.protocol !== 'https')) await request.session.save();
      } catch (err) {
        await accounts.delete(user.id).catch((cleanupErr: unknown) => {
          request.log.error({ err: cleanupErr, userId: user.id }, 'sign-up: could not remove the user');
        });
        throw err;
      }
      await afterWrite(shop, request.session, [], place);
      return reply.code(201).send({ user: roles.withEffectiveRole(user) });
    },
  );

  app.get('/api/me', { schema: meSchema }, async (request) => {
    const { userId } = requireUser(request);
    const { shard, schema } = userData.forRead(userId);
    const user = await users.get(await shard.reads.readerFor(request.session), userId, schema);
    if (!user) {
      // The user was deleted while the session lived on.
      await request.session.destroy();
      throw unauthorized();
    }
    return { user: roles.withEffectiveRole(user) };
  });
}
