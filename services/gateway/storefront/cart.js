// The cart and the checkout.

import { call, cart, saveCart, session, checkoutKey, forgetCheckoutKey } from './api.js';
import { h, show, euros } from './dom.js';
import { clear, report } from './notice.js';

export function cartPage(go) {
  const c = cart();
  const ids = Object.keys(c).sort();
  if (ids.length === 0) {
    show('Your cart', h('p', {}, 'Your cart is empty. ', h('a', { href: '#/' }, 'Browse the catalog')));
    return;
  }
  const total = ids.reduce((sum, id) => sum + c[id].price_cents * c[id].quantity, 0);
  const rows = ids.map((id) => {
    const line = c[id];
    const qty = h('input', {
      type: 'number', min: 0, max: 100, value: line.quantity, name: `qty-${id}`, id: `qty-${id}`, inputmode: 'numeric',
      'aria-label': `Quantity of ${line.name}`,
      onchange: (e) => {
        const n = Number.parseInt(e.target.value, 10);
        const next = cart();
        if (!Number.isFinite(n) || n <= 0) delete next[id];
        else next[id] = { ...line, quantity: Math.min(n, 100) };
        saveCart(next);
        cartPage(go);
      },
    });
    return h('tr', {},
      h('td', {}, h('a', { href: `#/products/${encodeURIComponent(id)}` }, line.name)),
      h('td', { class: 'num' }, qty),
      h('td', { class: 'num hide-narrow' }, euros(line.price_cents)),
      h('td', { class: 'num' }, euros(line.price_cents * line.quantity)));
  });
  const table = h('table', {},
    h('caption', { class: 'muted' }, 'Prices are confirmed when the order is placed.'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Product'), h('th', { scope: 'col', class: 'num' }, 'Quantity'),
      h('th', { scope: 'col', class: 'num hide-narrow' }, 'Unit price'), h('th', { scope: 'col', class: 'num' }, 'Subtotal'))),
    h('tbody', {}, rows),
    h('tfoot', {}, h('tr', {}, h('th', { scope: 'row', colspan: 3 }, 'Total'), h('td', { class: 'num', id: 'cart-total' }, euros(total)))));
  const place = h('button', { type: 'submit', id: 'place-order' }, 'Place order');
  const form = h('form', { class: 'actions', novalidate: true }, place);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!session()) {
      go('#/login?then=%23%2Fcart');
      return;
    }
    if (place.disabled) return; // one request at a time
    clear();
    place.disabled = true;
    place.textContent = 'Placing your order…';
    const current = cart();
    const items = Object.entries(current).map(([product_id, l]) => ({ product_id, quantity: l.quantity }));
    try {
      // The same key for every try of this cart: a retry, a double click
      // or a second tab places one order.
      const order = await call('POST', '/api/v1/orders', { auth: true, body: { items }, headers: { 'Idempotency-Key': checkoutKey(current) } });
      saveCart({});
      forgetCheckoutKey();
      go(`#/orders/${order.id}`);
    } catch (err) {
      report(err, form);
      place.disabled = false;
      place.textContent = 'Place order';
    }
  });
  show('Your cart', table, form);
}
