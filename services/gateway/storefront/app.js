// The storefront: a page per hash route (#/, #/products/{id}, #/cart,
// #/orders, #/orders/{id}, #/account, #/login, #/register), built from the
// public API the gateway serves at the same origin.

import { cart, endSession, session } from './api.js';
import { catalogPage, productPage } from './catalog.js';
import { accountPage, loginPage, registerPage } from './account.js';
import { cartPage } from './cart.js';
import { orderPage, ordersPage } from './orders.js';
import { clear, say } from './notice.js';

let visit = 0; // which page is showing: a page that polls stops when it changes

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function refreshChrome() {
  document.body.classList.toggle('auth', session() !== null);
  const n = Object.values(cart()).reduce((sum, l) => sum + l.quantity, 0);
  const badge = document.getElementById('cart-count');
  badge.textContent = String(n);
  badge.setAttribute('aria-label', `${n} items in cart`);
}

async function route() {
  const mine = ++visit;
  const alive = () => mine === visit;
  clear();
  refreshChrome();
  const [path, query = ''] = (location.hash.slice(1) || '/').split('?');
  const params = new URLSearchParams(query);
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const needsLogin = ['orders', 'account'].includes(parts[0]);
  if (needsLogin && !session()) {
    loginPage(go, `#${path}`);
    say('Please log in to see this page.', 'info');
    return;
  }
  switch (parts[0]) {
    case undefined: return catalogPage(params, alive);
    case 'products': return parts[1] ? productPage(parts[1], alive) : catalogPage(params, alive);
    case 'cart': return cartPage(go);
    case 'orders': return parts[1] ? orderPage(parts[1], alive) : ordersPage(params, alive);
    case 'account': return accountPage(alive);
    case 'login': return loginPage(go, params.get('then'));
    case 'register': return registerPage(go);
    default: return go('#/');
  }
}

// The skip link moves focus to the page's content; it must not become a
// route.
document.querySelector('.skip').addEventListener('click', (e) => {
  e.preventDefault();
  document.getElementById('main').focus();
});
document.getElementById('logout').addEventListener('click', () => {
  endSession();
  go('#/');
  say('You are logged out.', 'info');
});
window.addEventListener('hashchange', route);
window.addEventListener('cartchange', refreshChrome);
window.addEventListener('storage', refreshChrome);
route();
