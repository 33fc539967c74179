// The API reference at /api/docs, without signing in: the server's OpenAPI document
// (/api/openapi.json, public too) read in the browser, every operation it has listed, the
// filter, an operation opened to its parameters and the properties of its body and answer, a
// $ref followed to its schema; at a desktop's and a phone's width, nothing the CSP blocks and
// nothing fetched from elsewhere; and the page's words when the document cannot be had.

import assert from 'node:assert/strict';
import { PHONE, openPage, shot } from '../harness.mjs';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** `METHOD path` of every operation in the document, sorted. */
const documented = (doc) => Object.entries(doc.paths)
  .flatMap(([path, item]) => METHODS.filter((method) => item[method]).map((method) => `${method.toUpperCase()} ${path}`))
  .sort();

/** An operation's row on the page. */
const operation = (page, method, path) => page.locator(`li.op-item[data-method="${method}"][data-path="${path}"]`);

/** `METHOD path` of the operations on show, once each (one with two tags is listed twice). */
const shown = (page) => page.locator('li.op-item:visible')
  .evaluateAll((items) => [...new Set(items.map((item) => `${item.dataset.method} ${item.dataset.path}`))].sort());

/** How many pixels the page is wider than the screen. */
const overflow = (page) => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);

/** Counts requests to anywhere but the server. */
function watchOrigins(page, base) {
  const foreign = [];
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(`${base}/`) && !url.startsWith('data:')) foreign.push(url);
  });
  return foreign;
}

/** Opens an operation and waits for what it shows; resolves to its property and parameter names. */
async function expand(row) {
  await row.locator('summary').first().click();
  await row.locator('.op-body').waitFor();
  return row.locator('code.pname').allTextContents();
}

async function reference({ server, browser }) {
  const answer = await fetch(`${server.base}/api/openapi.json`);
  assert.equal(answer.status, 200, 'the document needs no credential');
  assert.match(answer.headers.get('content-type') || '', /json/);
  const doc = await answer.json();
  assert.match(doc.openapi, /^3\.1\./);
  const operations = documented(doc);

  const page = await openPage(browser, server.base);
  const foreign = watchOrigins(page, server.base);
  const response = await page.goto('/api/docs');
  assert.equal(response.status(), 200);
  assert.match(response.headers()['content-security-policy'] || '', /script-src 'self'/, 'the page has the app\'s CSP');
  await page.getByRole('heading', { level: 1, name: doc.info.title, exact: true }).waitFor();
  await page.locator('li.op-item').first().waitFor();
  assert.equal(await page.locator('main .state.error').count(), 0);
  assert.deepEqual(await shown(page), operations, 'every operation of the document, and only those');
  assert.equal(await page.locator('#components details.schema-def').count(), Object.keys(doc.components.schemas).length,
    'every schema under Components');

  // Closed, an operation shows its method, path and who may call it.
  const conversations = operation(page, 'GET', '/api/conversations');
  const newKey = operation(page, 'POST', '/api/keys');
  assert.ok(await conversations.isVisible() && await newKey.isVisible());
  assert.match(await conversations.locator('summary').textContent(), /^GET \/api\/conversations\b/);
  assert.equal(await conversations.locator('.op-body').count(), 0, 'closed until opened');
  assert.equal(await conversations.locator('.access').textContent(), 'auth');
  assert.equal(await operation(page, 'GET', '/health').locator('.access').textContent(), 'public');
  assert.equal(await operation(page, 'GET', '/api/openapi.json').locator('.access').textContent(), 'public');

  // The filter keeps the operations whose path, summary or tag has the words.
  const filter = page.getByRole('searchbox', { name: 'Filter' });
  await filter.fill('keys');
  await conversations.waitFor({ state: 'hidden' });
  const keys = await shown(page);
  assert.ok(keys.includes('POST /api/keys') && keys.includes('GET /api/keys'), `the key operations stay: ${keys}`);
  assert.deepEqual(keys.filter((item) => !/ \/api\/keys(\/|$)/.test(item)), [], 'only the key operations stay');
  await page.getByText(`${keys.length} of ${operations.length} shown`).waitFor();
  assert.equal(await page.locator('section.api-tag:visible').count(), 1, 'sections without a match are hidden');

  // Opened: its request body and its answer, as trees of their properties.
  const keyNames = await expand(newKey);
  for (const name of ['name', 'scope', 'key', 'api_key']) assert.ok(keyNames.includes(name), `POST /api/keys shows ${name}: ${keyNames}`);
  await newKey.getByRole('heading', { name: /Request body/ }).waitFor();
  await newKey.locator('.status', { hasText: '201' }).waitFor();

  await filter.fill('');
  await conversations.waitFor();
  const conversationNames = await expand(conversations);
  for (const name of ['limit', 'offset', 'conversations', 'total']) {
    assert.ok(conversationNames.includes(name), `GET /api/conversations shows ${name}: ${conversationNames}`);
  }
  await conversations.getByRole('cell', { name: 'query' }).first().waitFor();

  // A schema's name leads to it under Components, opened.
  const link = conversations.locator('.response a.ref').first();
  const schema = await link.textContent();
  const exactly = new RegExp(`^${schema.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
  await link.click();
  await page.locator('details.schema-def[open]', { has: page.locator('code.schema-name', { hasText: exactly }) }).waitFor();
  assert.match(await page.evaluate(() => location.hash), /^#schema-/);

  assert.ok(await overflow(page) <= 0, 'no sideways scroll at 1280 px');
  const unnamed = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea, button')]
    .filter((el) => !el.labels?.length && !el.getAttribute('aria-label') && !el.textContent.trim() && el.type !== 'hidden')
    .map((el) => el.outerHTML));
  assert.deepEqual(unnamed, [], 'controls without a name');
  await shot(page, 'api-docs-desktop');
  assert.deepEqual(page.problems(), [], 'no script error, nothing the CSP blocks');
  assert.deepEqual(foreign, [], 'nothing from another origin');
  await page.context().close();

  // A phone, light and dark: every operation opened, still nothing wider than the screen.
  const phone = await openPage(browser, server.base, PHONE);
  await phone.goto('/api/docs');
  await phone.locator('li.op-item').first().waitFor();
  await expand(operation(phone, 'GET', '/api/conversations'));
  await expand(operation(phone, 'POST', '/api/keys'));
  assert.ok(await overflow(phone) <= 0, 'no sideways scroll at 375 px');
  await shot(phone, 'api-docs-phone');
  await phone.getByRole('button', { name: 'Expand all' }).click();
  assert.equal(await phone.locator('details.op:not([open])').count(), 0, 'Expand all opens every operation');
  for (const scheme of ['light', 'dark']) {
    await phone.emulateMedia({ colorScheme: scheme });
    const wide = await overflow(phone);
    assert.ok(wide <= 0, `every operation open at 375 px (${scheme}) is ${wide} px wider than the screen`);
  }
  assert.deepEqual(phone.problems(), []);
  await phone.context().close();
}

// The document cannot be had: the page says so, and where it looked.
async function unavailable({ server, browser }) {
  const page = await openPage(browser, server.base);
  await page.route('**/api/openapi.json', (route) => route.fulfill({
    status: 503, contentType: 'application/json', body: JSON.stringify({ detail: 'down for the test' }),
  }));
  await page.goto('/api/docs');
  await page.getByRole('alert').filter({ hasText: 'Could not load /api/openapi.json: down for the test' }).waitFor();
  assert.equal(await page.locator('li.op-item').count(), 0);
  assert.deepEqual(page.problems(), []);
  await page.context().close();
}

export default [
  ['API reference: /api/docs shows every operation without signing in, filters, opens one to its schemas, fits a phone', reference],
  ['API reference: when /api/openapi.json cannot be had, the page says so', unavailable],
];
