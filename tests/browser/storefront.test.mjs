// The storefront as a person uses it, in headless Chromium: run by
// tests/storefront_test.go against the running system (SHOP_URL), with
// Debian's chromium (CHROMIUM). SCREENSHOTS, when set, is a folder the
// main pages' screenshots are written to (make screenshots: docs/).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { chromium } from 'playwright-core';

const base = process.env.SHOP_URL;
const shots = process.env.SCREENSHOTS;
const wait = { timeout: 30_000 };
let browser;

before(async () => {
  assert.ok(base, 'SHOP_URL names the gateway');
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
});
after(async () => browser?.close());

// A page of its own (a fresh browser profile), with every console error
// and every page error failing the test: the policy (CSP) blocking
// something shows up here.
async function newPage(t, viewport = { width: 1100, height: 900 }, expected = /$^/) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    const text = m.text();
    // A 4xx or 503 answer is the page's to show, not an error of its own.
    if (m.type() === 'error' && !/status of (4\d\d|503)/.test(text) && !expected.test(text)) errors.push(`console: ${text}`);
  });
  t.after(async () => {
    await context.close();
    assert.deepEqual(errors, [], 'no script error and nothing blocked by the policy');
  });
  return page;
}

async function shot(page, name) {
  if (shots) await page.screenshot({ path: `${shots}/storefront-${name}.png`, fullPage: true });
}

// register signs a new person up through the form; the page logs them in.
async function register(page, name = 'Ada Lovelace') {
  const email = `ada-${randomUUID().slice(0, 8)}@example.com`;
  const password = 'correct horse battery';
  await page.goto(`${base}/#/register`);
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel(/^Password/).fill(password);
  await page.getByRole('button', { name: 'Register' }).click();
  await page.getByRole('heading', { name: `Hello, ${name}` }).waitFor(wait);
  return { email, password };
}

// walletOpen waits until the account page shows the starting credit: the
// wallet opens when payments has read user.registered.
async function walletOpen(page) {
  await page.goto(`${base}/#/account`);
  for (let i = 0; i < 60; i++) {
    if (i > 0) await page.reload(); // the same address: a reload reads it again
    const balance = page.locator('#balance');
    await balance.waitFor(wait);
    if ((await balance.textContent()).includes('1,000.00')) return;
    await page.waitForTimeout(500);
  }
  assert.fail('the wallet did not open within 30 s');
}

// addToCart opens a product's page and adds it, times times.
async function addToCart(page, id, name, times = 1) {
  await page.goto(`${base}/#/products/${id}`);
  await page.getByRole('heading', { name }).waitFor(wait);
  for (let i = 0; i < times; i++) await page.getByRole('button', { name: `Add ${name} to cart` }).click();
}

async function finalStatus(page) {
  const status = page.locator('.status');
  await page.waitForFunction(() => ['completed', 'cancelled'].includes(document.querySelector('.status')?.textContent), null, wait);
  return status.textContent();
}

test('register, log out, log in, buy two products, see the order completed', async (t) => {
  const page = await newPage(t);
  await page.goto(`${base}/`);
  await page.getByRole('heading', { name: 'Catalog' }).waitFor(wait);
  await shot(page, 'catalog');
  // A page at a time: the second page, and back.
  await page.getByRole('link', { name: 'Next page →' }).click();
  await page.getByRole('link', { name: 'Paper Filters, pack of 100' }).waitFor(wait);
  await page.getByRole('link', { name: '← Previous page' }).click();
  await page.getByRole('link', { name: 'Conical Burr Grinder' }).waitFor(wait);
  const { email, password } = await register(page);
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.goto(`${base}/#/login`);
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Catalog' }).waitFor(wait);
  await walletOpen(page);

  await addToCart(page, 'ceramic-mug-350ml', 'Ceramic Mug, 350 ml');
  await addToCart(page, 'paper-filters-100', 'Paper Filters, pack of 100', 2);
  assert.equal(await page.locator('#cart-count').textContent(), '3');
  await page.getByRole('link', { name: /^Cart/ }).click();
  await page.getByRole('heading', { name: 'Your cart' }).waitFor(wait);
  assert.equal(await page.locator('#cart-total').textContent(), '€23.80');
  await shot(page, 'cart');
  await page.getByRole('button', { name: 'Place order' }).click();
  await page.getByRole('heading', { name: /^Order / }).waitFor(wait);
  assert.equal(await finalStatus(page), 'completed');
  const steps = await page.locator('ol.steps li').allTextContents();
  assert.deepEqual(steps.map((s) => s.split(' ').slice(0, 2).join(' ')), ['Stock reserved', 'Payment taken', 'Stock confirmed']);
  assert.equal(await page.locator('#cart-count').textContent(), '0', 'the cart is empty once the order is placed');
  assert.doesNotMatch(await page.locator('main').innerText(), /\b(null|undefined|NaN)\b/, 'nothing shown that the page did not mean to');
  await shot(page, 'order');

  // The charge and the notification of the order's event, as they arrive.
  await page.goto(`${base}/#/account`);
  for (let i = 0; !(await page.getByText(/is confirmed: 23\.80 charged/).count()); i++) {
    assert.ok(i < 60, 'the order notification arrived within 30 s');
    await page.waitForTimeout(500);
    await page.reload();
    await page.locator('#balance').waitFor(wait);
  }
  assert.equal(await page.locator('#balance').textContent(), '€976.20');
  await shot(page, 'account');
});

// After the first test's order (a mug and filters, completed), the mug's
// page shows the filters as bought with it, from the recommendations
// service (RECOMMENDATIONS set: it runs); when that service does not
// answer, the page shows the product and nothing about it, no error.
test('a product page shows what was bought with it, and nothing when that service is down', async (t) => {
  const page = await newPage(t);
  if (process.env.RECOMMENDATIONS) {
    await page.goto(`${base}/#/products/ceramic-mug-350ml`);
    for (let i = 0; !(await page.getByRole('heading', { name: 'Often bought together' }).count()); i++) {
      assert.ok(i < 60, 'the completed order reached the recommendations within 30 s');
      await page.waitForTimeout(500);
      await page.reload();
      await page.getByRole('heading', { name: 'Ceramic Mug, 350 ml' }).waitFor(wait);
    }
    const together = page.getByRole('region', { name: 'Often bought together' });
    await together.getByRole('link', { name: 'Paper Filters, pack of 100' }).waitFor(wait);
    assert.match(await together.innerText(), /in \d+ orders?\)/);
    await shot(page, 'product');
  }
  let refused;
  const asked = new Promise((resolve) => { refused = resolve; });
  await page.route(/\/recommendations\?/, async (route) => {
    await route.fulfill({ status: 503, contentType: 'application/problem+json', headers: { 'Retry-After': '1' },
      body: JSON.stringify({ type: 'about:blank', title: 'Service Unavailable', status: 503 }) });
    refused();
  });
  await page.goto(`${base}/#/products/paper-filters-100`);
  await page.getByRole('heading', { name: 'Paper Filters, pack of 100' }).waitFor(wait);
  await asked;
  await page.waitForTimeout(200); // the page's answer to the 503, if it made one
  assert.equal(await page.getByRole('heading', { name: 'Often bought together' }).count(), 0);
  assert.equal(await page.locator('#notice').isVisible(), false, 'no error shown for an extra that is missing');
  await page.getByRole('button', { name: 'Add Paper Filters, pack of 100 to cart' }).waitFor(wait);
});

test('an order that cannot be paid ends cancelled, with the reason shown', async (t) => {
  const page = await newPage(t);
  await register(page);
  await walletOpen(page);
  await addToCart(page, 'espresso-beans-1kg', 'Espresso Beans, 1 kg');
  await page.goto(`${base}/#/cart`);
  // 41 × 24.50 = 1,004.50: more than the starting credit.
  await page.getByLabel('Quantity of Espresso Beans, 1 kg').fill('41');
  await page.getByLabel('Quantity of Espresso Beans, 1 kg').press('Enter');
  await page.locator('#cart-total', { hasText: '1,004.50' }).waitFor(wait);
  await page.getByRole('button', { name: 'Place order' }).click();
  await page.getByRole('heading', { name: /^Order / }).waitFor(wait);
  assert.equal(await finalStatus(page), 'cancelled');
  assert.match(await page.locator('#reason').textContent(), /payment declined: the wallet's balance is below the amount/);
  await page.getByText('Stock released').waitFor(wait);
});

test('a retry and a double click place one order', async (t) => {
  const page = await newPage(t, undefined, /ERR_CONNECTION_RESET/); // the answer this test loses
  await register(page);
  await walletOpen(page);
  await addToCart(page, 'ceramic-mug-350ml', 'Ceramic Mug, 350 ml');
  await page.goto(`${base}/#/cart`);
  // The first answer is lost on the way back: the shop placed the order,
  // the page never learns it.
  const keys = [];
  let lost = false;
  await page.route('**/api/v1/orders', async (route) => {
    keys.push(route.request().headers()['idempotency-key']);
    if (lost) return route.continue();
    lost = true;
    await route.fetch();
    return route.abort('connectionreset');
  });
  await page.getByRole('button', { name: 'Place order' }).click();
  await page.getByText(/could not be reached/).waitFor(wait);
  await page.getByRole('button', { name: 'Place order' }).dblclick();
  await page.getByRole('heading', { name: /^Order / }).waitFor(wait);
  assert.equal(await finalStatus(page), 'completed');
  assert.ok(keys.length >= 2, `${keys.length} requests`);
  assert.equal(new Set(keys).size, 1, 'every try carried the same Idempotency-Key');
  await page.goto(`${base}/#/orders`);
  await page.getByRole('heading', { name: 'Your orders' }).waitFor(wait);
  assert.equal(await page.locator('tbody tr').count(), 1, 'one order');
});

test('bad input shows the error next to the field it names', async (t) => {
  const page = await newPage(t, { width: 390, height: 844 }); // a phone's screen
  await page.goto(`${base}/#/register`);
  await page.getByLabel('Name', { exact: true }).fill('Ada');
  await page.getByLabel('Email', { exact: true }).fill('not-an-address');
  await page.getByLabel(/^Password/).fill('short');
  await page.getByRole('button', { name: 'Register' }).click();
  await page.locator('#password-error', { hasText: 'at least 12 characters' }).waitFor(wait);
  assert.match(await page.locator('#email-error').textContent(), /not a valid address/);
  assert.equal(await page.locator('#email').getAttribute('aria-invalid'), 'true');
  assert.equal(await page.locator('#name').getAttribute('aria-invalid'), null);
  assert.equal(await page.locator('#notice').textContent(), 'Please correct the fields marked below.');
  await shot(page, 'register-errors');
});

test('another person cannot see the order by its address', async (t) => {
  const owner = await newPage(t);
  await register(owner);
  await walletOpen(owner);
  await addToCart(owner, 'ceramic-mug-350ml', 'Ceramic Mug, 350 ml');
  await owner.goto(`${base}/#/cart`);
  await owner.getByRole('button', { name: 'Place order' }).click();
  await owner.getByRole('heading', { name: /^Order / }).waitFor(wait);
  const url = owner.url();
  assert.match(url, /#\/orders\/[0-9a-f-]{36}$/);
  assert.equal(await finalStatus(owner), 'completed'); // its saga ends within the test

  const other = await newPage(t);
  await register(other, 'Grace Hopper');
  await other.goto(url);
  await other.getByRole('heading', { name: 'Order not found' }).waitFor(wait);
  assert.equal(await other.locator('.status').count(), 0);
});

test('over the rate limit, the page says when to try again', async (t) => {
  const page = await newPage(t);
  await register(page);
  // The page's own client, four times the gateway's burst of reads at once
  // (SHOP_RATE_BURST: the run file's RATE_LIMIT_BURST), far more than
  // what refills while they run.
  const burst = Number.parseInt(process.env.SHOP_RATE_BURST || '', 10);
  assert.ok(burst > 0, 'SHOP_RATE_BURST names the gateway\'s burst');
  const seen = await page.evaluate(async (n) => {
    const { call } = await import('/static/api.js');
    const { report } = await import('/static/notice.js');
    const results = await Promise.allSettled(Array.from({ length: n }, () => call('GET', '/api/v1/orders', { auth: true })));
    const limited = results.filter((r) => r.status === 'rejected' && r.reason.status === 429);
    if (limited.length) report(limited[0].reason);
    return { limited: limited.length, retryAfter: limited[0]?.reason.retryAfter, notice: document.getElementById('notice').textContent };
  }, 4 * burst);
  assert.ok(seen.limited > 0, `some of the ${4 * burst} were refused`);
  assert.ok(seen.retryAfter >= 1, `Retry-After: ${seen.retryAfter}`);
  assert.equal(seen.notice, `Too many requests. Try again in ${seen.retryAfter} seconds.`);
  assert.ok(await page.locator('#notice').isVisible());
});

test('the keyboard reaches every part of a page', async (t) => {
  const page = await newPage(t);
  await page.goto(`${base}/`);
  await page.getByRole('heading', { name: 'Catalog' }).waitFor(wait);
  // A new page puts the focus on its content, for screen readers to read.
  assert.equal(await page.evaluate(() => document.activeElement.id), 'main');
  let reached = false;
  for (let i = 0; i < 12 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = (await page.evaluate(() => document.activeElement.getAttribute('aria-label') || '')).startsWith('Add ');
  }
  assert.ok(reached, 'an Add to cart button is reached by Tab');
  await page.keyboard.press('Enter');
  assert.equal(await page.locator('#cart-count').textContent(), '1');
  // The skip link, first in the page, takes the keyboard to the content.
  await page.locator('.skip').focus();
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'main');
  assert.match(page.url(), /\/$|#\/$/, 'the skip link is not a route');
});
