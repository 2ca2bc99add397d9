import type { Session } from 'fastify';
import { HttpError } from '../../src/errors';
import { MemorySessionStore, ReadOnlySessionStore } from '../../src/sessions/session-stores';

const call = (fn: (cb: (err?: unknown, value?: unknown) => void) => void) =>
  new Promise<{ err?: unknown; value?: unknown }>((resolve) => fn((err, value) => resolve({ err, value })));

describe("a secondary region's session store", () => {
  test('reads through to the replica, refuses a write (a bug: logged, 503) and skips a destroy', async () => {
    // GIVEN the replica holds a session written by the home region
    const replica = new MemorySessionStore(3600);
    const session = { userId: 'u1', cookie: { originalMaxAge: 3_600_000 } } as unknown as Session;
    await call((cb) => replica.set('s1', session, cb));
    const errors: string[] = [];
    const store = new ReadOnlySessionStore(replica, { error: (_obj, msg) => errors.push(msg) });
    // WHEN the secondary reads it
    const read = await call((cb) => store.get('s1', cb));
    // THEN it is the home region's session
    expect(read.err).toBeNull();
    expect((read.value as Session).userId).toBe('u1');
    // WHEN something tries to write a session
    const written = await call((cb) => store.set('s2', session, cb));
    // THEN the write is refused with a 503 and logged, and the replica is unchanged
    expect(written.err).toBeInstanceOf(HttpError);
    expect((written.err as HttpError).statusCode).toBe(503);
    expect(store.refusedWrites).toBe(1);
    expect(errors).toEqual([expect.stringContaining('a session write reached the read-only session store')]);
    expect(replica.size).toBe(1);
    // AND a destroy (the plugin dropping an expired session) succeeds without touching the replica
    const destroyed = await call((cb) => store.destroy('s1', cb));
    expect(destroyed.err).toBeUndefined();
    expect(replica.size).toBe(1);
  });
});
