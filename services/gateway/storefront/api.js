// The shop's public API, as the gateway serves it (/openapi.yaml), and
// what the page keeps: the session token and the cart.

const tokenKey = 'daprshop.session';
const cartKey = 'daprshop.cart';

// ApiError is an answer that is not a success: its problem+json body
// (RFC 9457), and for a 429 or 503 how many seconds to wait.
export class ApiError extends Error {
  constructor(status, problem, retryAfter) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.retryAfter = retryAfter;
  }
  // fieldErrors are the fields the problem names, by field name.
  get fieldErrors() {
    const out = {};
    for (const e of this.problem.errors || []) out[e.field] = e.detail;
    return out;
  }
}

// session is the logged-in user's token, or null when there is none or it
// has expired.
export function session() {
  try {
    const s = JSON.parse(sessionStorage.getItem(tokenKey));
    if (s && s.token && Date.parse(s.expires_at) > Date.now()) return s;
  } catch { /* no session */ }
  sessionStorage.removeItem(tokenKey);
  return null;
}

export function endSession() {
  sessionStorage.removeItem(tokenKey);
}

// call sends one request; it resolves to the JSON body, or rejects with
// an ApiError.
export async function call(method, path, { body, headers = {}, auth = false } = {}) {
  const h = { Accept: 'application/json, application/problem+json', ...headers };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  if (auth) {
    const s = session();
    if (!s) throw new ApiError(401, { title: 'Unauthorized', detail: 'Log in first.' });
    h.Authorization = `Bearer ${s.token}`;
  }
  let resp;
  try {
    resp = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, { title: 'Network error', detail: 'The shop could not be reached. Check your connection and try again.' });
  }
  const text = await resp.text();
  let data = {};
  try { data = text ? JSON.parse(text) : {}; } catch { data = { detail: text.slice(0, 200) }; }
  if (!resp.ok) {
    if (resp.status === 401 && auth) endSession();
    const retry = Number.parseInt(resp.headers.get('Retry-After') || '', 10);
    throw new ApiError(resp.status, data, Number.isFinite(retry) ? retry : undefined);
  }
  return data;
}

export async function logIn(email, password) {
  const s = await call('POST', '/api/v1/sessions', { body: { email, password } });
  sessionStorage.setItem(tokenKey, JSON.stringify(s));
  return s;
}

// The cart: product id → {name, price_cents, quantity}, kept in this
// browser until the order is placed.
export function cart() {
  try { return JSON.parse(localStorage.getItem(cartKey)) || {}; } catch { return {}; }
}

export function saveCart(c) {
  localStorage.setItem(cartKey, JSON.stringify(c));
  window.dispatchEvent(new Event('cartchange'));
}

// checkoutKey is the Idempotency-Key of the cart's order: made once for a
// cart's content and reused by every retry and every extra click, so the
// shop places one order for it. A changed cart is a new order, a new key.
export function checkoutKey(c) {
  const content = JSON.stringify(Object.entries(c).map(([id, l]) => [id, l.quantity]).sort());
  const saved = JSON.parse(sessionStorage.getItem('daprshop.checkout') || 'null');
  if (saved && saved.content === content) return saved.key;
  const key = uuid();
  sessionStorage.setItem('daprshop.checkout', JSON.stringify({ content, key }));
  return key;
}

export function forgetCheckoutKey() {
  sessionStorage.removeItem('daprshop.checkout');
}

// uuid is a random (version 4) UUID; crypto.randomUUID needs a secure
// context, getRandomValues does not.
function uuid() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((v) => v.toString(16).padStart(2, '0')).join('');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}
