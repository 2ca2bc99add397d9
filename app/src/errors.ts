import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

/** An error with an HTTP status whose message is safe to show to the client. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** 400 naming the field that is wrong. */
export const badRequest = (message: string) => new HttpError(400, message);
/** 401: no session, or a session that no longer belongs to a user. */
export const unauthorized = (message = 'log in first') => new HttpError(401, message);
/** 403: logged in, but the role does not allow it. */
export const forbidden = (message = 'admin role required') => new HttpError(403, message);
/** 404 for a resource named in the URL. */
export const notFound = (message: string) => new HttpError(404, message);
/** 409: conflicts with the current state (duplicate email or SKU, not enough stock). */
export const conflict = (message: string) => new HttpError(409, message);

/** True for a PostgreSQL unique violation (SQLSTATE 23505), optionally on one constraint. */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const e = err as { code?: string; constraint?: string; message?: string };
  if (e?.code !== '23505') return false;
  return constraint === undefined || e.constraint === constraint || (e.message ?? '').includes(constraint);
}

/**
 * Answers an error fastify raises before routing, where no hook runs (its `frameworkErrors` option; a URL it
 * cannot decode is a 400): with the request id every response carries, in the error shape of every other answer.
 * The caller adds what its hooks would have added (security headers, the access line).
 */
export function sendFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const status = error.statusCode ?? 400;
  void reply
    .header('x-request-id', request.id)
    .code(status)
    .send({ statusCode: status, error: STATUS_CODES[status] ?? 'Error', message: error.message });
}
