// The other pages: users administered, memories added, found, edited and deleted, and a
// tour of every page at a desktop's and a phone's width, in light and dark, for the
// screenshots and to see that none shows an error or breaks the layout.

import assert from 'node:assert/strict';
import { ADMIN, DESKTOP, PHONE, eventually, openPage, settled, shot, signIn } from '../harness.mjs';

const BOB = { email: 'bob@example.com', password: 'bob-password-1' };

async function loginStatus(base, user) {
  const response = await fetch(`${base}/auth/jwt/login`, { method: 'POST', body: new URLSearchParams({ username: user.email, password: user.password }) });
  return response.status;
}

async function users({ server, browser }) {
  const page = await openPage(browser, server.base);
  await signIn(page, ADMIN, '#/users');
  await settled(page);
  const form = page.getByRole('form', { name: 'Add a user' });
  await form.getByLabel('Email').fill(BOB.email);
  await form.getByLabel('Password', { exact: true }).fill(BOB.password);
  await form.getByRole('button', { name: 'Add user' }).click();
  const bob = page.locator('.card.user', { hasText: BOB.email });
  await bob.waitFor();
  assert.equal(await loginStatus(server.base, BOB), 200);

  await bob.getByRole('button', { name: `Make admin ${BOB.email}` }).click();
  await page.locator('.card.user', { hasText: BOB.email }).locator('.chip', { hasText: 'admin' }).waitFor();
  await page.getByRole('button', { name: `Remove admin rights of ${BOB.email}` }).click();
  await page.getByRole('button', { name: `Make admin ${BOB.email}` }).waitFor();

  await page.getByRole('button', { name: `Reset the password of ${BOB.email}` }).click();
  await page.getByLabel('New password', { exact: true }).fill('bob-new-password');
  await page.getByRole('button', { name: 'Set password' }).click();
  await page.locator('#toast', { hasText: `New password set for ${BOB.email}` }).waitFor();
  assert.equal(await loginStatus(server.base, BOB), 400, 'the old password is gone');
  assert.equal(await loginStatus(server.base, { ...BOB, password: 'bob-new-password' }), 200);

  await page.getByRole('button', { name: `Deactivate ${BOB.email}` }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Deactivate' }).click();
  await page.locator('.card.user', { hasText: BOB.email }).locator('.chip', { hasText: 'deactivated' }).waitFor();
  assert.equal(await loginStatus(server.base, { ...BOB, password: 'bob-new-password' }), 400);
  // The admin is offered no way to lock themself out.
  const me = page.locator('.card.user', { hasText: ADMIN.email });
  assert.equal(await me.getByRole('button', { name: /^(Deactivate|Make admin|Remove admin)/ }).count(), 0);
  await shot(page, 'users');
  assert.deepEqual(page.problems(), []);
  await page.context().close();
}

async function memories({ server, browser }) {
  const page = await openPage(browser, server.base);
  await signIn(page, ADMIN, '#/memories');
  await settled(page);
  await page.getByLabel('New memory').fill('Water the plants on Sunday');
  await page.getByRole('button', { name: 'Add memory' }).click();
  const added = page.locator('.cards .card', { hasText: 'Water the plants on Sunday' });
  await added.waitFor();

  await page.getByRole('searchbox', { name: 'Search' }).fill('plants');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  // The filtered list, not the one it replaces: polled until it shows one memory.
  await eventually('one memory has the word', async () =>
    await page.locator('main .state.loading').count() === 0
      && await page.locator('.cards .card').count() === 1);

  await page.getByRole('button', { name: 'Edit memory: Water the plants on Sunday' }).click();
  await page.getByRole('form', { name: 'Edit memory' }).getByLabel('Memory').fill('Water the plants on Saturday');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.locator('.cards .card', { hasText: 'Water the plants on Saturday' }).waitFor();
  await shot(page, 'memories-edited');

  await page.getByRole('button', { name: 'Delete memory: Water the plants on Saturday' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await page.getByText('No memory has these words.').waitFor();
  assert.deepEqual(page.problems(), []);
  await page.context().close();
}

/** Every page, as its address. */
const tourPages = (ctx) => [
  ['conversations', '#/conversations'],
  ['conversation', `#/conversations/${ctx.conversation}`],
  ['live', '#/live'],
  ['upload', '#/upload'],
  ['memories', '#/memories'],
  ['documents', '#/documents'],
  ['documents-todos', '#/documents/todo_extractor/todos'],
  ['events', '#/events'],
  ['plugins', '#/plugins'],
  ['plugins-yml', '#/plugins/config'],
  ['deliveries', '#/deliveries'],
  ['users', '#/users'],
  ['system', '#/system'],
  ['search', '#/search?q=oat%20milk'],
  ['account', '#/account'],
];

async function tour(ctx) {
  const { server, browser } = ctx;
  for (const [viewport, size, scheme] of [[DESKTOP, 'desktop', 'light'], [PHONE, 'phone', 'light'], [DESKTOP, 'dark', 'dark']]) {
    const page = await openPage(browser, server.base, viewport);
    await page.emulateMedia({ colorScheme: scheme });
    await signIn(page, ADMIN);
    for (const [name, hash] of tourPages(ctx)) {
      await page.goto(`/${hash}`);
      await settled(page);
      await page.locator('main h1').waitFor();
      assert.equal(await page.locator('main .state.error').count(), 0, `${name} shows no error`);
      // Opened, the widest parts: a record's tables and JSON, a plugin's settings.
      if (name === 'events') await page.locator('.records summary').first().click();
      if (name === 'plugins') await page.locator('#plugin-webhook summary', { hasText: 'Settings' }).click();
      const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(wide <= 0, `${name} at ${size} is ${wide} px wider than the screen`);
      if (size !== 'dark' || name === 'conversations' || name === 'conversation') await shot(page, `${name}-${size}`);
      // Every control a keyboard reaches has a name a screen reader can say.
      const unnamed = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea, button')]
        .filter((el) => !el.labels?.length && !el.getAttribute('aria-label') && !el.textContent.trim() && el.type !== 'hidden')
        .map((el) => el.outerHTML));
      assert.deepEqual(unnamed, [], `${name}: controls without a name`);
    }
    assert.deepEqual(page.problems(), []);
    await page.context().close();
  }
}

// Search over what was said: the uploads' transcripts are found with the words marked, and a
// hit leads to its conversation.
async function searching({ server, browser }) {
  const page = await openPage(browser, server.base);
  await signIn(page, ADMIN, '#/search');
  await page.getByText('Type a few words you remember saying.').waitFor();
  await page.getByRole('searchbox', { name: 'Search' }).fill('oat milk');
  await page.locator('select[name=kind]').selectOption('conversation');
  await page.getByRole('button', { name: 'Search' }).click();
  const first = page.locator('li.hit').first();
  await first.waitFor();
  assert.match((await first.locator('mark').allTextContents()).join(' ').toLowerCase(), /oat|milk/);
  await page.getByRole('status').filter({ hasText: 'By words' }).waitFor();
  await shot(page, 'search-desktop');
  await first.getByRole('link', { name: 'open the conversation' }).click();
  await page.getByRole('heading', { name: 'Transcript' }).waitFor();
  await page.goto('/#/search?q=zebra%20quartz');
  await page.getByText('Nothing matches these words.').waitFor();
  // A time alone: what was said today, read in the browser's time zone.
  await page.goto('/#/search?q=what%20did%20I%20say%20today');
  await page.getByRole('status').filter({ hasText: '“today” read as a time' }).waitFor();
  await page.locator('li.hit').first().waitFor();
  assert.deepEqual(page.problems(), []);
  await page.context().close();
}

export default [
  ['search: what was said is found, its words marked, and leads to its conversation', searching],
  ['users: an admin adds a user, makes and unmakes an admin, resets a password, deactivates', users],
  ['memories: one added by hand is found, edited and deleted', memories],
  ['every page renders at desktop and phone widths, light and dark, without errors', tour],
];
