// The shopping cart: lines of {productId, name, priceCents, quantity}, kept in localStorage so it survives a
// reload. Prices here are only for display; the server reads the catalog price when the order is placed.

const STORAGE_KEY = 'shop.cart.v1';
/** Largest quantity one line may hold (the server enforces its own limits and stock). */
export const MAX_QUANTITY = 99;

/**
 * @typedef {{productId: string, name: string, priceCents: number, quantity: number}} CartLine
 */

/** The cart, with change notification for the header's item count. */
export class Cart {
  /** @param {Storage | undefined} [storage] */
  constructor(storage) {
    this.storage = storage;
    /** @type {CartLine[]} */
    this.lines = this.load();
    /** @type {Set<() => void>} */
    this.listeners = new Set();
  }

  /** @returns {CartLine[]} */
  load() {
    try {
      const raw = this.storage && this.storage.getItem(STORAGE_KEY);
      const parsed = raw ? JSON.parse(raw) : [];
      if (!Array.isArray(parsed)) return [];
      return parsed.filter(
        (line) =>
          line &&
          typeof line.productId === 'string' &&
          typeof line.name === 'string' &&
          Number.isInteger(line.priceCents) &&
          Number.isInteger(line.quantity) &&
          line.quantity > 0,
      );
    } catch {
      // Unreadable or blocked storage: start with an empty cart rather than failing the page.
      return [];
    }
  }

  save() {
    try {
      if (this.storage) this.storage.setItem(STORAGE_KEY, JSON.stringify(this.lines));
    } catch {
      // Storage full or blocked: the cart still works for this page view.
    }
    for (const listener of this.listeners) listener();
  }

  /** @param {() => void} listener called after every change */
  onChange(listener) {
    this.listeners.add(listener);
  }

  /**
   * Adds `quantity` of a product (merging with an existing line).
   * @param {{id: string, name: string, priceCents: number}} product
   * @param {number} quantity
   */
  add(product, quantity) {
    const line = this.lines.find((l) => l.productId === product.id);
    if (line) {
      line.quantity = clampQuantity(line.quantity + quantity);
      line.name = product.name;
      line.priceCents = product.priceCents;
    } else {
      this.lines.push({
        productId: product.id,
        name: product.name,
        priceCents: product.priceCents,
        quantity: clampQuantity(quantity),
      });
    }
    this.save();
  }

  /**
   * Sets a line's quantity; 0 removes it.
   * @param {string} productId
   * @param {number} quantity
   */
  setQuantity(productId, quantity) {
    if (quantity <= 0) {
      this.remove(productId);
      return;
    }
    const line = this.lines.find((l) => l.productId === productId);
    if (!line) return;
    line.quantity = clampQuantity(quantity);
    this.save();
  }

  /** @param {string} productId */
  remove(productId) {
    this.lines = this.lines.filter((l) => l.productId !== productId);
    this.save();
  }

  clear() {
    this.lines = [];
    this.save();
  }

  /** @returns {number} number of items (sum of quantities) */
  count() {
    return this.lines.reduce((sum, l) => sum + l.quantity, 0);
  }

  /** @returns {number} display total in cents */
  totalCents() {
    return this.lines.reduce((sum, l) => sum + l.priceCents * l.quantity, 0);
  }

  /** @returns {{productId: string, quantity: number}[]} the order request body's items */
  orderItems() {
    return this.lines.map((l) => ({ productId: l.productId, quantity: l.quantity }));
  }
}

/**
 * A whole number between 1 and MAX_QUANTITY.
 * @param {number} quantity
 * @returns {number}
 */
export function clampQuantity(quantity) {
  if (!Number.isFinite(quantity)) return 1;
  return Math.min(MAX_QUANTITY, Math.max(1, Math.trunc(quantity)));
}
