// The catalog, a page at a time, and one product.

import { call, cart, saveCart } from './api.js';
import { h, show, euros } from './dom.js';
import { report, say } from './notice.js';
import { boughtTogether } from './recommendations.js';

const pageSize = 8;

function stock(p) {
  return p.available > 0
    ? h('span', { class: 'stock' }, `${p.available} in stock`)
    : h('span', { class: 'stock out' }, 'Out of stock');
}

function addButton(p) {
  return h('button', {
    type: 'button', disabled: p.available <= 0, 'aria-label': `Add ${p.name} to cart`,
    onclick: () => {
      const c = cart();
      const line = c[p.id] || { name: p.name, price_cents: p.price_cents, quantity: 0 };
      if (line.quantity >= Math.min(100, p.available)) {
        say(`No more ${p.name} to add: ${p.available} in stock.`);
        return;
      }
      line.quantity++;
      c[p.id] = line;
      saveCart(c);
      say(`${p.name} added to your cart (${line.quantity}).`, 'info');
    },
  }, 'Add to cart');
}

// catalogPage shows one page; cursor is the API's opaque next_cursor, and
// back the cursors of the pages before, for the Previous link.
// alive says whether the person is still on this page when an answer
// arrives (they may have gone on).
export async function catalogPage(params, alive) {
  const cursor = params.get('cursor') || '';
  const back = params.getAll('back');
  const q = new URLSearchParams({ limit: String(pageSize) });
  if (cursor) q.set('cursor', cursor);
  let page;
  try {
    page = await call('GET', `/api/v1/products?${q}`);
  } catch (err) {
    if (!alive()) return;
    show('Catalog');
    report(err);
    return;
  }
  if (!alive()) return;
  const items = page.items.map((p) => h('li', { class: 'card' },
    h('h2', {}, h('a', { href: `#/products/${encodeURIComponent(p.id)}` }, p.name)),
    h('span', { class: 'price' }, euros(p.price_cents)),
    stock(p),
    addButton(p)));
  const pager = h('nav', { class: 'pager', 'aria-label': 'Catalog pages' });
  if (cursor) {
    const prev = new URLSearchParams();
    const before = back.slice(0, -1);
    if (back.length && back[back.length - 1]) prev.set('cursor', back[back.length - 1]);
    for (const b of before) prev.append('back', b);
    pager.append(h('a', { href: `#/?${prev}`, rel: 'prev' }, '← Previous page'));
  }
  if (page.next_cursor) {
    const next = new URLSearchParams({ cursor: page.next_cursor });
    for (const b of [...back, cursor]) next.append('back', b);
    pager.append(h('a', { href: `#/?${next}`, rel: 'next' }, 'Next page →'));
  }
  show('Catalog', h('ul', { class: 'grid', 'aria-label': 'Products' }, items), pager);
}

export async function productPage(id, alive) {
  let p;
  try {
    p = await call('GET', `/api/v1/products/${encodeURIComponent(id)}`);
  } catch (err) {
    if (!alive()) return;
    show('Product not found', h('p', {}, h('a', { href: '#/' }, 'Back to the catalog')));
    report(err);
    return;
  }
  if (!alive()) return;
  show(p.name,
    h('p', { class: 'price' }, euros(p.price_cents)),
    h('p', {}, stock(p)),
    h('div', { class: 'actions' }, addButton(p), h('a', { href: '#/' }, 'Back to the catalog')));
  // Below the product, once (and if) it arrives; never in its way.
  const together = await boughtTogether(p.id);
  if (together && alive()) document.getElementById('main').append(together);
}
