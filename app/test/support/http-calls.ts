/** HTTP calls the real-process tests make (stage 1m's topology): bounded, so a hang fails the test. */

/** fetch that fails the test instead of hanging. */
export const call = (url: string, init: RequestInit = {}) =>
  fetch(url, { ...init, signal: AbortSignal.timeout(15_000) });

/** A function that places an order of `quantity` of one product for a logged-in customer at `baseUrl`. */
export function orderPlacer(baseUrl: string, cookie: string, productId: string) {
  return (quantity: number) =>
    call(`${baseUrl}/api/orders`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json' },
      body: JSON.stringify({ items: [{ productId, quantity }] }),
    });
}
