// DOM helpers: every element is built with these, never from HTML
// strings, so that no text from the API is ever read as markup.

// h builds an element: h('a', {href: '#/'}, 'text', child, ...).
// Attributes starting with "on" are listeners; false and null are left out.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// show replaces the page's content, gives it a title and moves focus to it,
// so that a screen reader announces the new page.
export function show(title, ...children) {
  const main = document.getElementById('main');
  document.title = `${title} · daprshop`;
  main.replaceChildren(h('h1', {}, title), ...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  main.focus();
}

const money = new Intl.NumberFormat('en-IE', { style: 'currency', currency: 'EUR' });

// euros formats integer cents.
export function euros(cents) {
  return money.format(cents / 100);
}

// when formats an RFC 3339 time for people.
export function when(iso) {
  return new Date(iso).toLocaleString();
}
