// Signing in and out, and what a user who is not an admin may reach.

import assert from 'node:assert/strict';
import { ADMIN, ALICE, openPage, signIn, settled, shot } from '../harness.mjs';

async function wrongThenRight({ server, browser }) {
  const page = await openPage(browser, server.base);
  await page.goto('/');
  await page.getByRole('heading', { name: 'Sign in to Chronicle' }).waitFor();
  await page.getByLabel('Email').fill(ADMIN.email);
  await page.getByLabel('Password').fill('not-the-password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'Wrong email or password.' }).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Sign out' }).count(), 0);
  await shot(page, 'signin-wrong-password');

  // The right password, by keyboard alone: the field keeps focus, Enter submits.
  await page.getByLabel('Password').fill(ADMIN.password);
  await page.getByLabel('Password').press('Enter');
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  await page.getByRole('link', { name: 'Plugins' }).waitFor();
  const [cookie] = (await page.context().cookies()).filter((c) => c.httpOnly);
  assert.ok(cookie, 'the session is an HttpOnly cookie');
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal(await page.evaluate(() => document.cookie), '', 'scripts never see the session');
  await settled(page);
  await page.getByText('No conversations yet').waitFor();
  await shot(page, 'conversations-empty');

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to Chronicle' }).waitFor();
  assert.equal(await page.evaluate(async () => (await fetch('/api/users/me')).status), 401);
  assert.deepEqual(page.problems(), []);
  await page.context().close();
}

// Every admin route, as a signed-in non-admin's browser would call it.
const ADMIN_ROUTES = [
  ['GET', '/api/admin/plugins/health'],
  ['GET', '/api/admin/plugins/metadata'],
  ['GET', '/api/admin/plugins/config'],
  ['PUT', '/api/admin/plugins/config', 'plugins: {}\n'],
  ['POST', '/api/admin/plugins/config/validate', 'plugins: {}\n'],
  ['POST', '/api/admin/plugins/config/structured/webhook', '{"orchestration": {"enabled": false}}'],
  ['POST', '/api/admin/plugins/reload'],
  ['POST', '/api/admin/plugins/webhook/test-connection'],
  ['GET', '/api/admin/users'],
  ['POST', '/api/admin/users', '{"email": "eve@example.com", "password": "eve-password-12"}'],
  ['PATCH', '/api/admin/users/someone', '{"is_admin": true}'],
  ['GET', '/api/admin/deliveries'],
  ['POST', '/api/admin/deliveries/replay-dead'],
  ['POST', '/api/admin/deliveries/1/replay'],
];

async function nonAdmin({ server, browser }) {
  const page = await openPage(browser, server.base);
  await signIn(page, ALICE);
  const links = await page.locator('#nav a').allTextContents();
  assert.deepEqual(links, ['Conversations', 'Search', 'Chat', 'Live', 'Memories', 'Documents', 'Events', 'System', 'Account']);
  for (const hash of ['#/plugins', '#/plugins/config', '#/deliveries', '#/users', '#/upload']) {
    await page.goto(`/${hash}`);
    await page.getByRole('heading', { name: 'Not found' }).waitFor();
  }
  await shot(page, 'non-admin-not-found');
  // The page hides them; the server is what refuses them.
  const statuses = await page.evaluate(async (routes) => Promise.all(routes.map(async ([method, route, body]) => {
    const headers = body?.startsWith('{') ? { 'content-type': 'application/json' } : {};
    return [method, route, (await fetch(route, { method, body, headers })).status];
  })), ADMIN_ROUTES);
  const form = await page.evaluate(async () => {
    const data = new FormData();
    data.append('files', new Blob([new Uint8Array(64)]), 'x.wav');
    return (await fetch('/api/audio/upload', { method: 'POST', body: data })).status;
  });
  statuses.push(['POST', '/api/audio/upload', form]);
  assert.deepEqual(statuses.filter(([, , status]) => status !== 403), [], 'every admin route answers 403');
  await page.goto('/#/system');
  await settled(page);
  assert.equal(await page.locator('main .state.error').count(), 0);
  assert.equal(await page.getByText('Data folder').count(), 0, 'the data folder is for admins');
  assert.deepEqual(page.problems(), []);
  await page.context().close();
}

// A personal API key made on the Account page: shown once, works as a bearer token within its
// scope, listed without the key, refused once revoked.
async function apiKeys({ server, browser }) {
  const page = await openPage(browser, server.base);
  await signIn(page, ALICE, '#/account');
  await page.getByRole('heading', { name: 'Account' }).waitFor();
  await page.getByText('No API keys yet').waitFor();
  assert.equal(await page.locator('select[name=scope] option[value=admin]').count(), 0, 'no admin scope for a non-admin');
  await page.getByLabel('Name').fill('Nightly script');
  await page.getByLabel('Scope').selectOption('read');
  await page.getByLabel('Expires').selectOption('90d');
  await page.getByRole('button', { name: 'Make key' }).click();
  await page.getByText('it is shown only this once').waitFor();
  const key = await page.getByRole('textbox', { name: 'Your new key' }).inputValue();
  assert.match(key, /^chr_[0-9a-f]{64}$/);
  await page.locator('li.key').filter({ hasText: 'Nightly script' }).waitFor();
  await shot(page, 'account-api-key');

  const call = (method, route) => fetch(`${server.base}${route}`, { method, headers: { authorization: `Bearer ${key}` } });
  assert.equal((await call('GET', '/api/users/me')).status, 200);
  assert.equal((await call('POST', '/api/memories')).status, 403, 'a read key cannot write');
  // After a reload the key is gone from the page for good; only its prefix is listed.
  await page.reload();
  await page.locator('li.key').filter({ hasText: 'Nightly script' }).waitFor();
  assert.equal(await page.getByText(key).count(), 0);
  assert.equal(await page.getByText(`${key.slice(0, 12)}…`).count(), 1);

  await page.getByRole('button', { name: 'Revoke Nightly script' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
  await page.locator('li.key').filter({ hasText: 'revoked' }).waitFor();
  assert.equal((await call('GET', '/api/users/me')).status, 401);
  assert.deepEqual(page.problems(), []);
  await page.context().close();
}

export default [
  ['sign in: a wrong password is refused, the right one signs in, sign out signs out', wrongThenRight],
  ['a non-admin sees no admin page and every admin route answers 403', nonAdmin],
  ['an API key made on the Account page works until it is revoked there', apiKeys],
];
