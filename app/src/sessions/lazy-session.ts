import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { fastifySession, type FastifySessionOptions } from '@fastify/session';

type OnRequest = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void;
type OnSend = (
  request: FastifyRequest,
  reply: FastifyReply,
  payload: unknown,
  done: HookHandlerDoneFunction,
) => void;

/** The session of a request without a session cookie that nothing has asked for yet. */
const NOT_CREATED = Symbol('session not created');
const kSession = Symbol('lazy session');

interface LazyRequest {
  [kSession]: FastifyRequest['session'] | typeof NOT_CREATED | null;
}

/** Options of {@link registerLazySession} beyond @fastify/session's own. */
export interface LazySessionOptions {
  /**
   * Sessions are read, never written (a secondary region reads them from a read-only replica of the home
   * region's store): the plugin's `onSend` never runs, so neither a modified session nor the plugin's rolling
   * refresh (`rolling`, on by default, saves every session on every response) reaches the store, and no session
   * cookie is set.
   * @default false
   */
  readonly readOnly?: boolean;
}

/**
 * Registers @fastify/session (its own hooks, store and cookie handling, unchanged) with one difference: a
 * request that carries no session cookie gets its new session only when something reads `request.session`.
 * The plugin otherwise builds one for every such request (a random id, its HMAC signature and two hashes of
 * the session) and, since `saveUninitialized` is off, throws it away unsaved; for an anonymous page view
 * that is most of the session plugin's cost. A session created late is the same object the plugin would
 * have created first (its own `onRequest` makes it), and once it exists the plugin's `onSend` saves it and
 * sets the cookie as always. A request with a session cookie is handled by the plugin exactly as before.
 *
 * Read-only paths that only need to know whether a session holds something use {@link existingSession},
 * which does not create one. Tied to @fastify/session 11.1 (pinned): it adds one `onRequest` and one
 * `onSend` hook and decorates `request.session`; `app/test/lazy-session.test.ts` fails if that changes.
 */
export async function registerLazySession(
  app: FastifyInstance,
  options: FastifySessionOptions,
  lazy: LazySessionOptions = {},
): Promise<void> {
  const cookieName = options.cookieName ?? 'sessionId';
  if (options.cookiePrefix)
    throw new Error('registerLazySession: cookiePrefix is not supported; leave it unset');
  let pluginOnRequest: OnRequest | undefined;
  let pluginOnSend: OnSend | undefined;

  /** Runs the plugin's own onRequest for `request` now; without a cookie it completes synchronously. */
  const create = (request: FastifyRequest & LazyRequest): void => {
    request[kSession] = null;
    let finished = false;
    let failure: unknown;
    pluginOnRequest!(request, undefined as unknown as FastifyReply, (error?: unknown) => {
      finished = true;
      failure = error;
    });
    if (failure) throw failure instanceof Error ? failure : new Error(String(failure));
    if (!finished) throw new Error('@fastify/session did not create a session synchronously');
  };

  // What @fastify/session sees of the instance: its decorations and hooks, with `session` and the two hooks
  // taken over here.
  const facade = {
    decorate: (name: string, value: unknown) => app.decorate(name, value),
    decorateRequest: (name: string, value: unknown) => {
      if (name !== 'session') return app.decorateRequest(name, value as never);
      return app.decorateRequest('session', {
        getter(this: FastifyRequest & LazyRequest) {
          if (this[kSession] === NOT_CREATED) create(this);
          return this[kSession];
        },
        setter(this: FastifyRequest & LazyRequest, session: FastifyRequest['session']) {
          this[kSession] = session;
        },
      } as never);
    },
    addHook: (name: string, hook: OnRequest | OnSend) => {
      if (name === 'onRequest') pluginOnRequest = hook as OnRequest;
      else if (name === 'onSend') pluginOnSend = hook as OnSend;
      else throw new Error(`registerLazySession: @fastify/session added an unexpected ${name} hook`);
    },
  };
  await new Promise<void>((resolve, reject) =>
    (fastifySession as unknown as (f: unknown, o: unknown, next: (error?: Error) => void) => void)(
      facade,
      options,
      (error) => (error ? reject(error) : resolve()),
    ),
  );
  if (!pluginOnRequest || !pluginOnSend) {
    throw new Error('registerLazySession: @fastify/session no longer adds an onRequest and an onSend hook');
  }
  const onRequest = pluginOnRequest;
  const onSend = pluginOnSend;
  app.decorateRequest(kSession as unknown as string, null);
  app.addHook('onRequest', (request, reply, done) => {
    if (request.cookies[cookieName]) return onRequest(request, reply, done);
    (request as FastifyRequest & LazyRequest)[kSession] = NOT_CREATED;
    done();
  });
  app.addHook('onSend', (request, reply, payload, done) => {
    // Read-only sessions (a secondary region): never saved, never re-sent, whatever the request did to them.
    if (lazy.readOnly) return done();
    // Never created: nothing to save and no cookie to set (the plugin would not save an unmodified new one).
    if ((request as FastifyRequest & LazyRequest)[kSession] === NOT_CREATED) return done();
    onSend(request, reply, payload, done);
  });
}

/**
 * The request's session if it has one already (it came with a session cookie, or something created it), or
 * `undefined` for a request without a session cookie: a fresh session holds nothing, so a read that only
 * looks for a marker or a user id needs none, and asking `request.session` would create one for nothing.
 */
export function existingSession(request: FastifyRequest): FastifyRequest['session'] | undefined {
  const value = (request as FastifyRequest & LazyRequest)[kSession];
  return value === NOT_CREATED || value === undefined ? undefined : (value ?? undefined);
}
