/* global Node */
// Small DOM and formatting helpers. Every piece of data reaches the page through text nodes (never innerHTML),
// so product names or server messages cannot inject markup.

/**
 * Creates an element: `h('a', { href: '#/', class: 'brand', onclick: fn }, 'Home')`.
 * Attributes whose value is `false`, `null` or `undefined` are left out; `true` sets a boolean attribute;
 * `on<event>` keys add listeners. Children may be strings, numbers, nodes, or (nested) arrays of them.
 * @param {string} tag
 * @param {Record<string, any> | null} [props]
 * @param {...any} children
 * @returns {HTMLElement}
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (value === true) {
      el.setAttribute(key, '');
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

/**
 * @param {Node} parent
 * @param {any[]} children
 */
function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/**
 * A labelled form field: `<div class="field"><label for=id>text</label><input id=id ...></div>`.
 * @param {string} label visible label text
 * @param {Record<string, any>} inputProps attributes of the input (must include `id` and `name`)
 * @returns {HTMLElement}
 */
export function field(label, inputProps) {
  return h('div', { class: 'field' }, h('label', { for: inputProps.id }, label), h('input', inputProps));
}

const money = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' });

/**
 * @param {number} cents
 * @returns {string} e.g. "$12.50"
 */
export function formatMoney(cents) {
  return money.format(cents / 100);
}

/**
 * @param {string} iso timestamp
 * @returns {string} local date and time, or the input when it is not a date
 */
export function formatDate(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString('en-US', { dateStyle: 'medium', timeStyle: 'short' });
}

/**
 * A short, human-friendly reference for an id (its last 8 characters; UUIDv7 ids differ there).
 * @param {string} id
 * @returns {string}
 */
export function shortId(id) {
  return id.length > 8 ? id.slice(-8) : id;
}
