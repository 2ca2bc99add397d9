import type { LightMyRequestResponse } from 'fastify';

/**
 * What every server of the app answers to an error fastify raises before routing, where no hook runs (a URL it
 * cannot decode: 400; app/src/errors.ts, sendFrameworkError): the status, the error shape of every other answer,
 * and the request id the client gave.
 */
export function expectFrameworkError(
  response: LightMyRequestResponse,
  expected: { status: number; error: string; message: string; requestId: string },
): void {
  expect(response.statusCode).toBe(expected.status);
  expect(response.json()).toEqual({
    statusCode: expected.status,
    error: expected.error,
    message: expect.stringContaining(expected.message),
  });
  expect(response.headers['x-request-id']).toBe(expected.requestId);
}

/** What a URL fastify cannot decode is answered (`/%`, `/api/orders/%zz`). */
export const BAD_URL = {
  status: 400,
  error: 'Bad Request',
  message: 'is not a valid url component',
} as const;
