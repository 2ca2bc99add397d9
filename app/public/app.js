/* global FormData */
// The storefront: a hash-routed single page over the shop API. No framework and no build step; it runs as
// served from app/public by the app, or from S3/CloudFront with /api routed to the app.
//
// Routes: #/ (products, search, pages), #/products/<id>, #/cart, #/orders, #/orders/<id>, #/login, #/signup.

import { api, ApiError } from './shop-api.js';
import { Cart, MAX_QUANTITY, clampQuantity } from './cart.js';
import { field, formatDate, formatMoney, h, shortId } from './dom.js';

/** Products per catalog page. */
const PAGE_SIZE = 12;

const state = {
  /** @type {{id: string, email: string, name: string, role: string} | null} */
  user: null,
  cart: new Cart(safeLocalStorage()),
  /** Catalog position: the search text and the cursors of the pages seen so far (for "Previous"). */
  catalog: { q: '', cursors: [/** @type {string | null} */ (null)], page: 0 },
  /** Where to go after logging in (set when a signed-out user tries to order or see orders). */
  afterLogin: '#/',
  /** A success message to show after the next navigation. */
  pendingStatus: /** @type {string | null} */ (null),
  /** Increases on every render, so a slow response for an old view does not overwrite the current one. */
  renderId: 0,
};

const main = /** @type {HTMLElement} */ (document.getElementById('main'));
const statusBox = /** @type {HTMLElement} */ (document.getElementById('status'));
const errorBox = /** @type {HTMLElement} */ (document.getElementById('error'));

/** @returns {Storage | undefined} */
function safeLocalStorage() {
  try {
    return window.localStorage;
  } catch {
    return undefined;
  }
}

// --- messages ---------------------------------------------------------------------------------------------

/** @param {string} text */
function showStatus(text) {
  statusBox.textContent = text;
  statusBox.hidden = false;
}

/** @param {string} text */
function showError(text) {
  errorBox.textContent = text;
  errorBox.hidden = false;
  errorBox.scrollIntoView({ block: 'nearest' });
}

function clearMessages() {
  statusBox.hidden = true;
  statusBox.textContent = '';
  errorBox.hidden = true;
  errorBox.textContent = '';
}

/**
 * The user-facing text of a failure (ApiError carries the server's 4xx message).
 * @param {unknown} err
 * @returns {string}
 */
function describe(err) {
  if (err instanceof ApiError) return err.message;
  return 'Something went wrong in the page. Please reload and try again.';
}

/**
 * A form's own error line, announced to screen readers when it changes.
 * @returns {{el: HTMLElement, show: (text: string) => void, clear: () => void}}
 */
function formError() {
  const el = h('p', { class: 'message message-error', role: 'alert', hidden: true });
  return {
    el,
    show(text) {
      el.textContent = text;
      el.hidden = false;
    },
    clear() {
      el.textContent = '';
      el.hidden = true;
    },
  };
}

// --- navigation -------------------------------------------------------------------------------------------

/**
 * Goes to a route, optionally with a success message shown there.
 * @param {string} hash e.g. "#/orders"
 * @param {string} [status]
 */
function navigate(hash, status) {
  state.pendingStatus = status || null;
  if (location.hash === hash) void route();
  else location.hash = hash; // the hashchange listener renders
}

/**
 * Replaces the main area with a view and moves focus to its heading (so keyboard and screen-reader users
 * land on the new content).
 * @param {(HTMLElement | null)[]} nodes views may leave optional parts out as null
 * @param {boolean} focus
 */
function show(nodes, focus) {
  main.replaceChildren(...nodes.filter((node) => node !== null));
  main.removeAttribute('aria-busy');
  const heading = main.querySelector('h1');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    if (focus) heading.focus();
  }
}

let firstRender = true;

async function route() {
  const renderId = ++state.renderId;
  clearMessages();
  if (state.pendingStatus) {
    showStatus(state.pendingStatus);
    state.pendingStatus = null;
  }
  const hash = location.hash || '#/';
  const [path] = hash.slice(1).split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  markCurrentNav(parts[0] || 'products');

  /** @type {() => Promise<(HTMLElement | null)[]>} */
  let view;
  if (parts.length === 0) view = catalogView;
  else if (parts[0] === 'products' && parts.length === 2) view = () => productView(parts[1]);
  else if (parts[0] === 'cart' && parts.length === 1) view = cartView;
  else if (parts[0] === 'orders' && parts.length === 1) view = ordersView;
  else if (parts[0] === 'orders' && parts.length === 2) view = () => orderView(parts[1]);
  else if (parts[0] === 'login' && parts.length === 1) view = loginView;
  else if (parts[0] === 'signup' && parts.length === 1) view = signupView;
  else view = notFoundView;

  const focus = !firstRender;
  firstRender = false;
  main.setAttribute('aria-busy', 'true');
  let nodes;
  try {
    nodes = await view();
  } catch (err) {
    if (renderId !== state.renderId) return;
    if (err instanceof ApiError && err.status === 401) {
      // The session expired or was ended elsewhere.
      setUser(null);
      state.afterLogin = hash;
      navigate('#/login', 'Please log in to continue.');
      return;
    }
    nodes = [h('h1', null, 'Could not load this page')];
    showError(describe(err));
  }
  if (renderId !== state.renderId) return;
  show(nodes, focus);
}

/** @param {string} section */
function markCurrentNav(section) {
  for (const link of document.querySelectorAll('[data-nav]')) {
    if (link.getAttribute('data-nav') === section) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

// --- account ----------------------------------------------------------------------------------------------

/** @param {typeof state.user} user */
function setUser(user) {
  state.user = user;
  const signedIn = /** @type {HTMLElement} */ (document.getElementById('account-signed-in'));
  const signedOut = /** @type {HTMLElement} */ (document.getElementById('account-signed-out'));
  const name = /** @type {HTMLElement} */ (document.getElementById('account-name'));
  signedIn.hidden = !user;
  signedOut.hidden = Boolean(user);
  name.textContent = user ? `Signed in as ${user.name}` : '';
}

async function logOut() {
  const button = /** @type {HTMLButtonElement} */ (document.getElementById('logout-button'));
  button.disabled = true;
  try {
    await api.logOut();
    setUser(null);
    navigate('#/', 'You are logged out.');
  } catch (err) {
    showError(describe(err));
  } finally {
    button.disabled = false;
  }
}

async function loginView() {
  if (state.user) {
    return [h('h1', null, 'Log in'), h('p', null, `You are signed in as ${state.user.email}.`)];
  }
  const error = formError();
  const form = h(
    'form',
    { class: 'form', 'aria-labelledby': 'login-heading' },
    field('Email', {
      id: 'login-email',
      name: 'email',
      type: 'email',
      autocomplete: 'email',
      required: true,
    }),
    field('Password', {
      id: 'login-password',
      name: 'password',
      type: 'password',
      autocomplete: 'current-password',
      required: true,
    }),
    error.el,
    h('button', { type: 'submit', class: 'button button-primary' }, 'Log in'),
  );
  const remembered = sessionStorageGet('shop.lastEmail');
  if (remembered) /** @type {HTMLInputElement} */ (form.querySelector('#login-email')).value = remembered;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.clear();
    const data = new FormData(/** @type {HTMLFormElement} */ (form));
    const submit = /** @type {HTMLButtonElement} */ (form.querySelector('button[type="submit"]'));
    submit.disabled = true;
    try {
      const { user } = await api.logIn({
        email: String(data.get('email')),
        password: String(data.get('password')),
      });
      setUser(user);
      const target = state.afterLogin;
      state.afterLogin = '#/';
      navigate(target, `Welcome back, ${user.name}.`);
    } catch (err) {
      error.show(describe(err));
    } finally {
      submit.disabled = false;
    }
  });
  return [
    h('h1', { id: 'login-heading' }, 'Log in'),
    form,
    h('p', null, 'New here? ', h('a', { href: '#/signup' }, 'Create an account'), '.'),
  ];
}

async function signupView() {
  const error = formError();
  const form = h(
    'form',
    { class: 'form', 'aria-labelledby': 'signup-heading' },
    field('Name', { id: 'signup-name', name: 'name', type: 'text', autocomplete: 'name', required: true }),
    field('Email', {
      id: 'signup-email',
      name: 'email',
      type: 'email',
      autocomplete: 'email',
      required: true,
    }),
    field('Password', {
      id: 'signup-password',
      name: 'password',
      type: 'password',
      autocomplete: 'new-password',
      required: true,
      'aria-describedby': 'signup-password-hint',
    }),
    h('p', { id: 'signup-password-hint', class: 'hint' }, 'Use a long password you do not use elsewhere.'),
    error.el,
    h('button', { type: 'submit', class: 'button button-primary' }, 'Sign up'),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.clear();
    const data = new FormData(/** @type {HTMLFormElement} */ (form));
    const submit = /** @type {HTMLButtonElement} */ (form.querySelector('button[type="submit"]'));
    submit.disabled = true;
    try {
      const email = String(data.get('email'));
      const { user } = await api.signUp({
        name: String(data.get('name')),
        email,
        password: String(data.get('password')),
      });
      sessionStorageSet('shop.lastEmail', email);
      // The API may start a session with the sign-up; ask rather than assume.
      const signedIn = await api.me().then(
        () => true,
        () => false,
      );
      if (signedIn) {
        setUser(user);
        const target = state.afterLogin;
        state.afterLogin = '#/';
        navigate(target, `Welcome, ${user.name}! Your account is ready.`);
      } else {
        navigate('#/login', 'Your account is ready. Log in to continue.');
      }
    } catch (err) {
      error.show(describe(err));
    } finally {
      submit.disabled = false;
    }
  });
  return [
    h('h1', { id: 'signup-heading' }, 'Create an account'),
    form,
    h('p', null, 'Already have an account? ', h('a', { href: '#/login' }, 'Log in'), '.'),
  ];
}

/** @param {string} key */
function sessionStorageGet(key) {
  try {
    return window.sessionStorage.getItem(key);
  } catch {
    return null;
  }
}

/**
 * @param {string} key
 * @param {string} value
 */
function sessionStorageSet(key, value) {
  try {
    window.sessionStorage.setItem(key, value);
  } catch {
    // Only a convenience (pre-filling the log-in form).
  }
}

// --- catalog ----------------------------------------------------------------------------------------------

async function catalogView() {
  const { catalog } = state;
  const page = await api.listProducts({
    limit: PAGE_SIZE,
    cursor: catalog.cursors[catalog.page],
    q: catalog.q,
  });
  if (page.nextCursor) catalog.cursors[catalog.page + 1] = page.nextCursor;
  else catalog.cursors.length = catalog.page + 1;

  const search = h('input', {
    id: 'search-q',
    name: 'q',
    type: 'search',
    value: catalog.q,
    autocomplete: 'off',
    placeholder: 'e.g. kettle',
  });
  const searchForm = h(
    'form',
    { class: 'search', role: 'search' },
    h('label', { for: 'search-q' }, 'Search products'),
    h('div', { class: 'search-row' }, search, h('button', { type: 'submit', class: 'button' }, 'Search')),
  );
  searchForm.addEventListener('submit', (event) => {
    event.preventDefault();
    state.catalog = { q: /** @type {HTMLInputElement} */ (search).value.trim(), cursors: [null], page: 0 };
    navigate('#/');
  });

  const heading = catalog.q ? `Results for “${catalog.q}”` : 'Products';
  const list =
    page.items.length === 0
      ? h('p', { class: 'empty' }, catalog.q ? 'No products match your search.' : 'No products yet.')
      : h('ul', { class: 'product-grid', 'aria-label': 'Products' }, page.items.map(productCard));

  const pager = h(
    'nav',
    { class: 'pager', 'aria-label': 'Pages' },
    h(
      'button',
      { type: 'button', class: 'button', disabled: catalog.page === 0, onclick: () => turnPage(-1) },
      'Previous',
    ),
    h('span', { class: 'pager-page', 'data-testid': 'page-number' }, `Page ${catalog.page + 1}`),
    h(
      'button',
      { type: 'button', class: 'button', disabled: !page.nextCursor, onclick: () => turnPage(1) },
      'Next',
    ),
  );
  const clear = catalog.q
    ? h('button', { type: 'button', class: 'link-button', onclick: clearSearch }, 'Show all products')
    : null;
  return [h('h1', null, heading), searchForm, clear, list, pager];
}

/** @param {number} delta */
function turnPage(delta) {
  const { catalog } = state;
  catalog.page = Math.max(0, Math.min(catalog.cursors.length - 1, catalog.page + delta));
  navigate('#/');
}

function clearSearch() {
  state.catalog = { q: '', cursors: [null], page: 0 };
  navigate('#/');
}

/** @param {any} product */
function productCard(product) {
  const soldOut = product.stock <= 0;
  return h(
    'li',
    { class: 'product-card' },
    h('h2', null, h('a', { href: `#/products/${encodeURIComponent(product.id)}` }, product.name)),
    h('p', { class: 'price' }, formatMoney(product.priceCents)),
    h(
      'p',
      { class: soldOut ? 'stock stock-out' : 'stock' },
      soldOut ? 'Sold out' : `${product.stock} in stock`,
    ),
    h(
      'button',
      {
        type: 'button',
        class: 'button',
        disabled: soldOut,
        'aria-label': `Add ${product.name} to cart`,
        onclick: () => addToCart(product, 1),
      },
      'Add to cart',
    ),
  );
}

/**
 * @param {any} product
 * @param {number} quantity
 */
function addToCart(product, quantity) {
  state.cart.add(product, quantity);
  clearMessages();
  showStatus(`Added ${quantity} × ${product.name} to your cart.`);
}

/** @param {string} id */
async function productView(id) {
  let product;
  try {
    product = await api.getProduct(id);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      return [h('h1', null, 'Product not found'), h('p', null, h('a', { href: '#/' }, 'Back to products'))];
    }
    throw err;
  }
  const soldOut = product.stock <= 0;
  const quantity = h('input', {
    id: 'detail-quantity',
    name: 'quantity',
    type: 'number',
    inputmode: 'numeric',
    min: 1,
    max: Math.max(1, Math.min(MAX_QUANTITY, product.stock)),
    value: 1,
    required: true,
    disabled: soldOut,
  });
  const form = h(
    'form',
    { class: 'form form-inline', 'aria-label': `Add ${product.name} to cart` },
    h('div', { class: 'field' }, h('label', { for: 'detail-quantity' }, 'Quantity'), quantity),
    h('button', { type: 'submit', class: 'button button-primary', disabled: soldOut }, 'Add to cart'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    addToCart(product, clampQuantity(Number(/** @type {HTMLInputElement} */ (quantity).value)));
  });
  return [
    h('p', { class: 'breadcrumb' }, h('a', { href: '#/' }, '← Back to products')),
    h(
      'article',
      { class: 'product-detail' },
      h('h1', null, product.name),
      h('p', { class: 'price' }, formatMoney(product.priceCents)),
      h('p', { class: 'description' }, product.description || ''),
      h(
        'dl',
        { class: 'facts' },
        h('dt', null, 'SKU'),
        h('dd', { 'data-testid': 'sku' }, product.sku),
        h('dt', null, 'Availability'),
        h('dd', { 'data-testid': 'stock' }, soldOut ? 'Sold out' : `${product.stock} in stock`),
      ),
      form,
    ),
  ];
}

// --- cart and orders --------------------------------------------------------------------------------------

async function cartView() {
  const { cart } = state;
  if (cart.lines.length === 0) {
    return [
      h('h1', null, 'Your cart'),
      h('p', { class: 'empty' }, 'Your cart is empty. ', h('a', { href: '#/' }, 'Browse products'), '.'),
    ];
  }
  const total = h('p', { class: 'cart-total' }, 'Total: ', h('strong', { 'data-testid': 'cart-total' }, ''));
  const updateTotal = () => {
    /** @type {HTMLElement} */ (total.querySelector('strong')).textContent = formatMoney(cart.totalCents());
  };
  updateTotal();

  const lines = cart.lines.map((line) => {
    const inputId = `qty-${line.productId}`;
    const subtotal = h('span', { class: 'cart-subtotal' }, formatMoney(line.priceCents * line.quantity));
    const quantity = h('input', {
      id: inputId,
      type: 'number',
      inputmode: 'numeric',
      min: 0,
      max: MAX_QUANTITY,
      value: line.quantity,
    });
    quantity.addEventListener('change', () => {
      const value = Number(/** @type {HTMLInputElement} */ (quantity).value);
      if (value <= 0) {
        cart.remove(line.productId);
        navigate('#/cart', `Removed ${line.name} from your cart.`);
        return;
      }
      cart.setQuantity(line.productId, value);
      /** @type {HTMLInputElement} */ (quantity).value = String(clampQuantity(value));
      subtotal.textContent = formatMoney(line.priceCents * clampQuantity(value));
      updateTotal();
    });
    return h(
      'li',
      { class: 'cart-line' },
      h('span', { class: 'cart-name' }, line.name),
      h('span', { class: 'cart-price' }, formatMoney(line.priceCents)),
      h(
        'span',
        { class: 'cart-qty' },
        h('label', { for: inputId, class: 'visually-hidden' }, `Quantity of ${line.name}`),
        quantity,
      ),
      subtotal,
      h(
        'button',
        {
          type: 'button',
          class: 'link-button',
          'aria-label': `Remove ${line.name} from cart`,
          onclick: () => {
            cart.remove(line.productId);
            navigate('#/cart', `Removed ${line.name} from your cart.`);
          },
        },
        'Remove',
      ),
    );
  });

  const error = formError();
  const placeButton = h('button', { type: 'button', class: 'button button-primary' }, 'Place order');
  placeButton.addEventListener('click', async () => {
    error.clear();
    if (!state.user) {
      state.afterLogin = '#/cart';
      navigate('#/login', 'Log in to place your order.');
      return;
    }
    /** @type {HTMLButtonElement} */ (placeButton).disabled = true;
    try {
      const order = await api.placeOrder(cart.orderItems());
      cart.clear();
      navigate(`#/orders/${encodeURIComponent(order.id)}`, 'Thank you! Your order is placed.');
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        setUser(null);
        state.afterLogin = '#/cart';
        navigate('#/login', 'Log in to place your order.');
        return;
      }
      error.show(describe(err));
    } finally {
      /** @type {HTMLButtonElement} */ (placeButton).disabled = false;
    }
  });

  return [
    h('h1', null, 'Your cart'),
    h('ul', { class: 'cart-lines', 'aria-label': 'Items in your cart' }, lines),
    total,
    h('p', { class: 'hint' }, 'Prices are confirmed from the catalog when you place the order.'),
    state.user ? null : h('p', { class: 'hint' }, 'You will be asked to log in first.'),
    error.el,
    placeButton,
  ];
}

/**
 * @param {string} text what logging in is for
 * @returns {HTMLElement}
 */
function loginPrompt(text) {
  return h('p', null, h('a', { href: '#/login' }, 'Log in'), ` ${text}`);
}

async function ordersView() {
  if (!state.user) {
    state.afterLogin = '#/orders';
    return [h('h1', null, 'My orders'), loginPrompt('to see your orders.')];
  }
  const { items } = await api.listOrders();
  if (items.length === 0) {
    return [
      h('h1', null, 'My orders'),
      h('p', { class: 'empty' }, 'You have no orders yet. ', h('a', { href: '#/' }, 'Start shopping'), '.'),
    ];
  }
  return [
    h('h1', null, 'My orders'),
    h(
      'ul',
      { class: 'order-list', 'aria-label': 'Your orders' },
      items.map((order) =>
        h(
          'li',
          { class: 'order-card', 'data-order-id': order.id },
          h(
            'h2',
            null,
            h('a', { href: `#/orders/${encodeURIComponent(order.id)}` }, `Order ${shortId(order.id)}`),
          ),
          h('p', { class: 'order-meta' }, `${formatDate(order.createdAt)} · ${order.status}`),
          h(
            'p',
            { class: 'order-items' },
            order.items.map((item) => `${item.quantity} × ${item.name}`).join(', '),
          ),
          h('p', { class: 'order-total' }, 'Total: ', h('strong', null, formatMoney(order.totalCents))),
        ),
      ),
    ),
  ];
}

/** @param {string} id */
async function orderView(id) {
  if (!state.user) {
    state.afterLogin = `#/orders/${encodeURIComponent(id)}`;
    return [h('h1', null, 'Order'), loginPrompt('to see this order.')];
  }
  let order;
  try {
    order = await api.getOrder(id);
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 400)) {
      return [h('h1', null, 'Order not found'), h('p', null, h('a', { href: '#/orders' }, 'My orders'))];
    }
    throw err;
  }
  return [
    h('p', { class: 'breadcrumb' }, h('a', { href: '#/orders' }, '← My orders')),
    h('h1', null, `Order ${shortId(order.id)}`),
    h(
      'p',
      { class: 'order-meta' },
      `Placed ${formatDate(order.createdAt)} · `,
      h('span', null, order.status),
    ),
    h(
      'table',
      { class: 'order-table' },
      h('caption', { class: 'visually-hidden' }, 'Items in this order'),
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          h('th', { scope: 'col' }, 'Product'),
          h('th', { scope: 'col' }, 'Quantity'),
          h('th', { scope: 'col' }, 'Unit price'),
          h('th', { scope: 'col' }, 'Subtotal'),
        ),
      ),
      h(
        'tbody',
        null,
        order.items.map((item) =>
          h(
            'tr',
            null,
            h('td', null, item.name),
            h('td', null, String(item.quantity)),
            h('td', null, formatMoney(item.unitPriceCents)),
            h('td', null, formatMoney(item.unitPriceCents * item.quantity)),
          ),
        ),
      ),
      h(
        'tfoot',
        null,
        h(
          'tr',
          null,
          h('th', { scope: 'row', colspan: 3 }, 'Total'),
          h('td', { 'data-testid': 'order-total' }, formatMoney(order.totalCents)),
        ),
      ),
    ),
  ];
}

async function notFoundView() {
  return [h('h1', null, 'Page not found'), h('p', null, h('a', { href: '#/' }, 'Back to products'))];
}

// --- start ------------------------------------------------------------------------------------------------

function updateCartCount() {
  const count = /** @type {HTMLElement} */ (document.getElementById('cart-count'));
  count.textContent = String(state.cart.count());
}

async function start() {
  state.cart.onChange(updateCartCount);
  updateCartCount();
  /** @type {HTMLElement} */ (document.getElementById('logout-button')).addEventListener('click', logOut);
  window.addEventListener('hashchange', () => void route());
  let startError = null;
  try {
    const { user } = await api.me();
    setUser(user);
  } catch (err) {
    setUser(null);
    if (!(err instanceof ApiError && err.status === 401)) startError = describe(err);
  }
  await route();
  if (startError) showError(startError);
  document.body.setAttribute('data-ready', 'true');
}

void start();
