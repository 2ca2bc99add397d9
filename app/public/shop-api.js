// The shop's HTTP API as the storefront uses it: one function per call, JSON in and out, the session cookie
// sent along (same origin), and every non-2xx answer turned into an ApiError carrying the server's message.

/** An API call that did not succeed; `message` is what the server said (safe to show), `status` its code. */
export class ApiError extends Error {
  /**
   * @param {number} status HTTP status, or 0 when the server could not be reached
   * @param {string} message text for the user
   */
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

/**
 * The API base path from `<meta name="shop-api-base">` (default `/api`), without a trailing slash.
 * @returns {string}
 */
export function apiBase() {
  const meta = document.querySelector('meta[name="shop-api-base"]');
  const base = (meta && meta.getAttribute('content')) || '/api';
  return base.replace(/\/+$/, '');
}

/**
 * Sends one request and returns the parsed JSON body (undefined for 204).
 * @param {string} method
 * @param {string} path path below the API base, starting with `/`
 * @param {unknown} [body] sent as JSON when present
 * @returns {Promise<any>}
 */
export async function request(method, path, body) {
  /** @type {RequestInit} */
  const init = { method, credentials: 'same-origin', headers: { accept: 'application/json' } };
  if (body !== undefined) {
    init.headers = { ...init.headers, 'content-type': 'application/json' };
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(apiBase() + path, init);
  } catch {
    throw new ApiError(0, 'The shop could not be reached. Check your connection and try again.');
  }
  if (response.status === 204) return undefined;
  const text = await response.text();
  let data;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = undefined;
  }
  if (!response.ok) throw new ApiError(response.status, errorMessage(response.status, data));
  return data;
}

/**
 * The text to show for a failed call: the server's own message for 4xx (it names the field or the rule),
 * a generic one for 5xx (whose bodies say nothing useful by design).
 * @param {number} status
 * @param {any} data parsed error body, e.g. fastify's `{statusCode, error, message}`
 * @returns {string}
 */
export function errorMessage(status, data) {
  if (status >= 400 && status < 500 && data && typeof data.message === 'string' && data.message) {
    return data.message;
  }
  if (status === 429) return 'Too many attempts. Please wait a moment and try again.';
  if (status >= 500) return `Something went wrong on our side (HTTP ${status}). Please try again.`;
  return `The request failed (HTTP ${status}).`;
}

/** Calls of the shop API used by the storefront (see the HTTP API contract in the README). */
export const api = {
  /** @returns {Promise<{user: any}>} the signed-in user; rejects with status 401 when signed out */
  me: () => request('GET', '/me'),
  /** @param {{email: string, password: string, name: string}} input */
  signUp: (input) => request('POST', '/users', input),
  /** @param {{email: string, password: string}} input */
  logIn: (input) => request('POST', '/sessions', input),
  logOut: () => request('DELETE', '/sessions'),
  /**
   * @param {{limit?: number, cursor?: string | null, q?: string}} query
   * @returns {Promise<{items: any[], nextCursor: string | null}>}
   */
  listProducts: ({ limit, cursor, q }) => {
    const params = new URLSearchParams();
    if (limit) params.set('limit', String(limit));
    if (cursor) params.set('cursor', cursor);
    if (q) params.set('q', q);
    const query = params.toString();
    return request('GET', `/products${query ? `?${query}` : ''}`);
  },
  /** @param {string} id */
  getProduct: (id) => request('GET', `/products/${encodeURIComponent(id)}`),
  /** @param {{productId: string, quantity: number}[]} items */
  placeOrder: (items) => request('POST', '/orders', { items }),
  /** @returns {Promise<{items: any[]}>} */
  listOrders: () => request('GET', '/orders'),
  /** @param {string} id */
  getOrder: (id) => request('GET', `/orders/${encodeURIComponent(id)}`),
};
