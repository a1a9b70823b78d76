// Registering, logging in, and the account: wallet and notifications.

import { call, logIn } from './api.js';
import { h, show, euros, when } from './dom.js';
import { clear, report, say } from './notice.js';

// field is a labelled input with the slot its error goes in.
function field(label, name, attrs) {
  return h('label', {}, label,
    h('input', { name, id: name, 'aria-describedby': `${name}-error`, required: true, ...attrs }),
    h('span', { class: 'field-error', id: `${name}-error`, 'aria-live': 'polite' }));
}

function submitting(form, busy) {
  for (const b of form.querySelectorAll('button')) b.disabled = busy;
}

export function registerPage(go) {
  const form = h('form', { novalidate: true },
    field('Name', 'name', { autocomplete: 'name', maxlength: 100 }),
    field('Email', 'email', { type: 'email', autocomplete: 'email' }),
    field('Password (at least 12 characters)', 'password', { type: 'password', autocomplete: 'new-password' }),
    h('button', { type: 'submit' }, 'Register'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(form);
    submitting(form, true);
    const v = Object.fromEntries(new FormData(form));
    try {
      await call('POST', '/api/v1/users', { body: { name: v.name, email: v.email, password: v.password } });
      await logIn(v.email, v.password);
      go('#/account');
      say('Welcome! Your wallet opens with a starting credit in a moment.', 'info');
    } catch (err) {
      report(err, form);
    } finally {
      submitting(form, false);
    }
  });
  show('Register', form, h('p', {}, 'Already registered? ', h('a', { href: '#/login' }, 'Log in')));
}

export function loginPage(go, then) {
  const form = h('form', { novalidate: true },
    field('Email', 'email', { type: 'email', autocomplete: 'username' }),
    field('Password', 'password', { type: 'password', autocomplete: 'current-password' }),
    h('button', { type: 'submit' }, 'Log in'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(form);
    submitting(form, true);
    const v = Object.fromEntries(new FormData(form));
    try {
      await logIn(v.email, v.password);
      go(then && then.startsWith('#/') ? then : '#/'); // only a page of this shop
    } catch (err) {
      report(err, form);
    } finally {
      submitting(form, false);
    }
  });
  show('Log in', form, h('p', {}, 'New here? ', h('a', { href: '#/register' }, 'Register')));
}

export async function accountPage(alive) {
  let me, wallet, inbox;
  try {
    [me, inbox] = await Promise.all([call('GET', '/api/v1/me', { auth: true }), call('GET', '/api/v1/notifications', { auth: true })]);
    wallet = await call('GET', '/api/v1/wallet', { auth: true }).catch((err) => (err.status === 404 ? null : Promise.reject(err)));
  } catch (err) {
    if (!alive()) return;
    show('Account');
    report(err);
    return;
  }
  if (!alive()) return;
  const notes = inbox.items.length
    ? h('ul', { 'aria-label': 'Notifications' }, inbox.items.map((n) => h('li', {}, h('span', { class: 'muted' }, when(n.created_at)), ' ', n.message)))
    : h('p', { class: 'muted' }, 'No notifications yet.');
  show(`Hello, ${me.name}`,
    h('p', {}, `Signed in as ${me.email}.`),
    h('h2', {}, 'Wallet'),
    h('p', { id: 'balance' }, wallet ? euros(wallet.balance_cents) : 'Your wallet is being opened; reload in a moment.'),
    h('h2', {}, 'Notifications'),
    notes);
}
