// The orders: the list, and one order whose saga steps arrive live.

import { call } from './api.js';
import { h, show, euros, when } from './dom.js';
import { report, say } from './notice.js';

const stepNames = { reserve: 'Stock reserved', charge: 'Payment taken', confirm: 'Stock confirmed', refund: 'Payment refunded', release: 'Stock released' };

function statusOf(o) {
  return h('span', { class: `status ${o.status}` }, o.status);
}

export async function ordersPage(params, alive) {
  const q = new URLSearchParams({ limit: '20' });
  if (params.get('cursor')) q.set('cursor', params.get('cursor'));
  let page;
  try {
    page = await call('GET', `/api/v1/orders?${q}`, { auth: true });
  } catch (err) {
    if (!alive()) return;
    show('Your orders');
    report(err);
    return;
  }
  if (!alive()) return;
  if (page.items.length === 0) {
    show('Your orders', h('p', {}, 'No orders yet. ', h('a', { href: '#/' }, 'Browse the catalog')));
    return;
  }
  const rows = page.items.map((o) => h('tr', {},
    h('td', {}, h('a', { href: `#/orders/${o.id}` }, when(o.created_at))),
    h('td', {}, statusOf(o)),
    h('td', { class: 'num' }, euros(o.total_cents))));
  const more = page.next_cursor ? h('p', {}, h('a', { href: `#/orders?cursor=${encodeURIComponent(page.next_cursor)}` }, 'Older orders →')) : null;
  show('Your orders', h('table', {},
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Placed'), h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col', class: 'num' }, 'Total'))),
    h('tbody', {}, rows)), more);
}

// orderPage shows an order and, while it is pending, reads it again every
// second until its saga ends (or the person leaves the page: alive says).
export async function orderPage(id, alive) {
  let o;
  try {
    o = await call('GET', `/api/v1/orders/${encodeURIComponent(id)}`, { auth: true });
  } catch (err) {
    if (!alive()) return;
    show(err.status === 404 ? 'Order not found' : 'Order', h('p', {}, h('a', { href: '#/orders' }, 'Your orders')));
    report(err);
    return;
  }
  if (!alive()) return;
  render(o);
  let delay = 500;
  while (o.status === 'pending' && alive()) {
    await new Promise((r) => setTimeout(r, delay));
    if (!alive()) return;
    try {
      const next = await call('GET', `/api/v1/orders/${encodeURIComponent(id)}`, { auth: true });
      if (!alive()) return;
      if (JSON.stringify(next) !== JSON.stringify(o)) render(next);
      o = next;
      delay = 1000;
    } catch (err) {
      if (!alive()) return;
      if (err.status !== 429 && err.status !== 503) { report(err); return; }
      delay = (err.retryAfter || 2) * 1000; // wait as told, then go on
    }
  }
}

function render(o) {
  const steps = (o.steps || []).map((s) => h('li', { class: s.status },
    `${stepNames[s.name] || s.name}${s.status === 'failed' ? ' (failed)' : ''}`, s.detail ? `: ${s.detail}` : '',
    ' ', h('span', { class: 'muted' }, when(s.at))));
  const lines = o.items.map((it) => h('li', {}, `${it.quantity} × ${it.name} at ${euros(it.price_cents)}`));
  const children = [
    h('p', {}, 'Status: ', statusOf(o), o.status === 'pending' ? h('span', { class: 'muted' }, ' (the checkout is running)') : null),
    o.reason ? h('p', { id: 'reason' }, `Reason: ${o.reason}`) : null,
    h('ul', { 'aria-label': 'Items' }, lines),
    h('p', { class: 'price' }, `Total ${euros(o.total_cents)}`),
    h('h2', {}, 'Checkout steps'),
    steps.length ? h('ol', { class: 'steps', 'aria-live': 'polite' }, steps) : h('p', { class: 'muted', 'aria-live': 'polite' }, 'Starting…'),
  ];
  if (o.status === 'pending') {
    children.push(h('div', { class: 'actions' }, h('button', {
      type: 'button', class: 'secondary',
      onclick: async (e) => {
        e.target.disabled = true;
        try {
          await call('DELETE', `/api/v1/orders/${encodeURIComponent(o.id)}`, { auth: true });
          say('Cancel requested: anything taken is given back.', 'info');
        } catch (err) {
          report(err);
          e.target.disabled = false;
        }
      },
    }, 'Cancel order')));
  }
  const main = document.getElementById('main');
  const focused = main.contains(document.activeElement) && document.activeElement !== main;
  show(`Order ${o.id.slice(0, 8)}`, ...children);
  if (focused) main.focus();
}
