// "Bought together" on a product page, from the recommendations service.
// It is an extra: when the service does not answer (not running on a
// machine without Node.js, or down) or knows nothing yet, the section is
// not shown at all, and nothing is reported.

import { call } from './api.js';
import { h, euros } from './dom.js';

const shown = 4;

// boughtTogether resolves to the section for product id, or null.
export async function boughtTogether(id) {
  let recs;
  try {
    recs = await call('GET', `/api/v1/products/${encodeURIComponent(id)}/recommendations?limit=${shown}`);
  } catch {
    return null;
  }
  // Each one named and priced by the catalog; one the catalog does not
  // know (any more) is left out.
  const products = await Promise.all(recs.items.map((r) =>
    call('GET', `/api/v1/products/${encodeURIComponent(r.product_id)}`).catch(() => null)));
  const items = products.filter(Boolean).map((p, i) => h('li', {},
    h('a', { href: `#/products/${encodeURIComponent(p.id)}` }, p.name),
    ' ', h('span', { class: 'price' }, euros(p.price_cents)),
    ' ', h('span', { class: 'muted' }, ordersText(recs.items.find((r) => r.product_id === p.id)?.orders ?? 0))));
  if (items.length === 0) return null;
  return h('section', { class: 'together', 'aria-labelledby': 'together-title' },
    h('h2', { id: 'together-title' }, 'Often bought together'),
    h('ul', {}, items));
}

function ordersText(n) {
  return n === 1 ? '(in 1 order)' : `(in ${n} orders)`;
}
