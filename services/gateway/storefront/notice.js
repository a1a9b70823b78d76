// How the page tells a person what went wrong: a problem+json answer next
// to the field it names, or in the notice at the top of the page.

import { ApiError } from './api.js';

const notice = () => document.getElementById('notice');

// say shows a message in the notice; kind "info" is not an error.
export function say(message, kind = 'error') {
  const n = notice();
  n.textContent = message;
  n.className = kind === 'info' ? 'info' : '';
  n.setAttribute('role', kind === 'info' ? 'status' : 'alert');
  n.hidden = false;
}

export function clear(form) {
  notice().hidden = true;
  if (!form) return;
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  for (const el of form.querySelectorAll('.field-error')) el.textContent = '';
}

// report shows err: a field error under the field it names in form (its
// input has that name), anything else in the notice. A 429 or 503 says
// when to try again; a 401 asks to log in.
export function report(err, form) {
  if (!(err instanceof ApiError)) {
    say(`Something went wrong: ${err.message}`);
    return;
  }
  if (err.status === 429) {
    say(`Too many requests. Try again in ${err.retryAfter ?? 'a few'} seconds.`);
    return;
  }
  if (err.status === 503 && err.retryAfter !== undefined) {
    say(`${err.message} Try again in ${err.retryAfter} seconds.`);
    return;
  }
  if (err.status === 401) {
    say(`${err.message} Please log in.`);
    return;
  }
  const fields = err.fieldErrors;
  let placed = 0;
  if (form) {
    for (const [field, detail] of Object.entries(fields)) {
      const input = form.querySelector(`[name="${CSS.escape(field)}"]`);
      const slot = form.querySelector(`#${CSS.escape(field)}-error`);
      if (!input || !slot) continue;
      input.setAttribute('aria-invalid', 'true');
      slot.textContent = `${field[0].toUpperCase()}${field.slice(1)}: ${detail}.`;
      placed++;
    }
  }
  const rest = Object.entries(fields).filter(([f]) => !form || !form.querySelector(`#${CSS.escape(f)}-error`));
  if (placed > 0 && rest.length === 0) {
    say('Please correct the fields marked below.');
    form.querySelector('[aria-invalid="true"]').focus();
    return;
  }
  const extra = rest.map(([f, d]) => `${f}: ${d}`).join('; ');
  say([err.problem.title, err.problem.detail, extra].filter(Boolean).join(': '));
}
