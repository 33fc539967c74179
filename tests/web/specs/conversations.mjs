// Uploading audio by drag and drop, the conversations it becomes, their recording played
// and sought through the Range-honouring audio route, and a star.

import assert from 'node:assert/strict';
import { ADMIN, PHONE, call, eventually, openPage, settled, shot, signIn, wav } from '../harness.mjs';

/** Drops files on the upload page's drop zone, as a drag from the desktop would. */
async function dropFiles(page, files) {
  await page.evaluate((files) => {
    const transfer = new DataTransfer();
    for (const { name, base64 } of files) {
      const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      transfer.items.add(new File([bytes], name, { type: 'audio/wav' }));
    }
    const zone = document.querySelector('.dropzone');
    for (const type of ['dragenter', 'dragover', 'drop']) {
      zone.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
    }
  }, files.map(({ name, seconds }) => ({ name, base64: wav(seconds).toString('base64') })));
}

/** Waits until the pipeline has finished with a conversation: transcript, title, summary. */
export function finished(ctx, id) {
  return eventually(`conversation ${id} to be transcribed and summarized`, async () => {
    const { body } = await call(ctx.server.base, ctx.admin, `/api/conversations/${id}`);
    const c = body.conversation;
    return c?.segments?.length >= 2 && c.summary ? c : null;
  });
}

async function uploadAndSee(ctx) {
  const { server, browser } = ctx;
  const page = await openPage(browser, server.base);
  await signIn(page, ADMIN, '#/upload');
  await page.getByRole('heading', { name: 'Upload' }).waitFor();
  await dropFiles(page, [{ name: 'errands.wav', seconds: 3 }, { name: 'second.wav', seconds: 3 }]);
  const rows = page.locator('.uploads li');
  await eventually('both uploads to be answered', async () => (await page.locator('.uploads li.ok').count()) === 2);
  assert.equal(await rows.count(), 2);
  for (const row of await rows.all()) {
    assert.equal(await row.locator('progress').evaluate((p) => p.value), 100);
    assert.match(await row.locator('.result').innerText(), /^Uploaded: open its conversation \(3\.0 s of audio\)$/);
  }
  await shot(page, 'upload');

  // The first dropped is listed last (newest on top): its link leads to its conversation.
  const link = page.locator('.uploads li', { hasText: 'errands.wav' }).getByRole('link', { name: 'open its conversation' });
  const id = decodeURIComponent((await link.getAttribute('href')).split('/').pop());
  ctx.conversation = id;
  const done = await finished(ctx, id);
  ctx.title = done.title;
  ctx.second = decodeURIComponent((await page.locator('.uploads li', { hasText: 'second.wav' }).getByRole('link').getAttribute('href')).split('/').pop());
  await finished(ctx, ctx.second);

  await page.getByRole('link', { name: 'Conversations', exact: true }).click();
  await settled(page);
  const card = page.locator('.card.conversation', { has: page.locator(`a[href="#/conversations/${id}"]`) });
  await card.waitFor();
  assert.match(await card.innerText(), new RegExp(escape(done.title)));
  assert.match(await card.innerText(), /file upload/);
  assert.match(await card.locator('.snippet').innerText(), /Remind me to buy oat milk/);

  // The text filter finds it by a word of its transcript, and not by a word it lacks.
  await page.getByLabel('Search').fill('oat milk');
  await page.getByRole('button', { name: 'Apply' }).click();
  // The filtered page replaces the list: wait for it rather than count what is on screen.
  await page.waitForURL(/q=oat/);
  await page.locator('.card.conversation').first().waitFor();
  await page.getByLabel('Search').fill('zebra');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.getByText('No conversation matches these filters.').waitFor();
  // The date range: nothing from a day to come, everything up to one.
  await page.getByLabel('Search').fill('');
  await page.getByLabel('From').fill('2099-01-01');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.getByText('No conversation matches these filters.').waitFor();
  assert.match(page.url(), /since=2099-01-01/, 'the filters are in the address');
  await page.getByLabel('From').fill('');
  await page.getByLabel('To').fill('2099-01-01');
  await page.getByRole('button', { name: 'Apply' }).click();
  await card.waitFor();

  // Pages come from the server: from an offset, and back.
  await page.goto('/#/conversations?offset=1');
  const pager = page.getByRole('navigation', { name: 'Result pages' });
  await eventually('the second page', async () => /2–\d+ of \d+/.test(await pager.innerText()));
  await settled(page);
  const total = Number(/of (\d+)/.exec(await pager.innerText())[1]);
  assert.match(await pager.innerText(), new RegExp(`2–${total} of ${total}`));
  assert.equal(await page.locator('.card.conversation').count(), total - 1);
  await pager.getByRole('button', { name: '← Previous' }).click();
  await page.waitForURL(/offset=0/);
  // The first page, once it has replaced the second (a check made at once can see the old one).
  await eventually('the first page', async () => new RegExp(`1–${total} of ${total}`).test(await pager.innerText()));
  await settled(page);
  assert.ok(await pager.getByRole('button', { name: '← Previous' }).isDisabled());
  assert.deepEqual(page.problems(), []);
  await page.context().close();
}

async function playAndSeek(ctx) {
  const { server, browser } = ctx;
  const page = await openPage(browser, server.base);
  const audio = [];
  page.on('response', (response) => {
    if (response.url().endsWith(`/api/conversations/${ctx.conversation}/audio`)) {
      audio.push({ status: response.status(), range: response.request().headers().range });
    }
  });
  await signIn(page, ADMIN, `#/conversations/${ctx.conversation}`);
  await page.getByRole('heading', { name: ctx.title }).waitFor();
  await page.locator('.segments li').nth(1).waitFor();
  await page.waitForFunction(() => document.querySelector('audio')?.readyState >= 1);

  // A segment's time plays the recording from there.
  const second = page.locator('.segments li').nth(1).locator('button.time');
  const from = await second.innerText();
  await second.click();
  await page.waitForFunction(() => {
    const a = document.querySelector('audio');
    return a.currentTime >= 1 && !a.seeking;
  });
  // And the player seeks where it is told.
  const sought = await page.evaluate(() => new Promise((resolve) => {
    const a = document.querySelector('audio');
    a.pause();
    a.addEventListener('seeked', () => resolve(a.currentTime), { once: true });
    a.currentTime = 2.5;
  }));
  assert.ok(sought >= 2.4, `sought to ${sought}`);
  await shot(page, 'conversation-sought');
  assert.equal(from, '0:01');
  assert.ok(audio.some((a) => a.status === 206 && a.range), `a ranged request answered 206: ${JSON.stringify(audio)}`);
  assert.ok(audio.every((a) => a.status === 206 || a.status === 200), JSON.stringify(audio));
  assert.deepEqual(page.problems(), []);
  await page.context().close();
}

async function star(ctx) {
  const { server, browser } = ctx;
  const page = await openPage(browser, server.base);
  await signIn(page, ADMIN, `#/conversations/${ctx.conversation}`);
  const button = page.getByRole('button', { name: '☆ Star' });
  assert.equal(await button.getAttribute('aria-pressed'), 'false');
  await button.click();
  await page.getByRole('button', { name: '★ Starred' }).waitFor();
  assert.equal(await page.getByRole('button', { name: '★ Starred' }).getAttribute('aria-pressed'), 'true');
  const { body } = await call(server.base, ctx.admin, `/api/conversations/${ctx.conversation}`);
  assert.equal(body.conversation.starred, true);
  await settled(page);
  await shot(page, 'conversation-detail');

  // The starred filter shows it alone.
  await page.goto('/#/conversations?starred=true');
  await settled(page);
  const cards = page.locator('.card.conversation');
  assert.equal(await cards.count(), 1);
  assert.equal(await cards.locator('[aria-label="Starred"]').count(), 1);
  assert.ok(await page.getByLabel('Starred only').isChecked());
  assert.deepEqual(page.problems(), []);
  await page.context().close();

  // The same pages at a phone's width: nothing wider than the screen.
  const phone = await openPage(browser, server.base, PHONE);
  await signIn(phone, ADMIN, `#/conversations/${ctx.conversation}`);
  await settled(phone);
  assert.ok(await phone.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no sideways scroll at 375 px');
  await phone.getByRole('button', { name: 'Menu' }).click();
  await phone.getByRole('link', { name: 'Conversations', exact: true }).click();
  await settled(phone);
  assert.ok(await phone.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no sideways scroll at 375 px');
  await phone.context().close();
}

async function remove(ctx) {
  const { server, browser } = ctx;
  const id = ctx.second;
  const page = await openPage(browser, server.base);
  await signIn(page, ADMIN, `#/conversations/${id}`);
  await page.locator('.segments li').first().waitFor();
  // Cancelled first: nothing happens.
  await page.getByRole('button', { name: 'Delete' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
  assert.equal((await call(server.base, ctx.admin, `/api/conversations/${id}`)).status, 200);
  await page.getByRole('button', { name: 'Delete' }).click();
  const dialog = page.getByRole('dialog');
  assert.match(await dialog.innerText(), /and its recording\? This cannot be undone\./);
  await dialog.getByRole('button', { name: 'Delete' }).click();
  await page.locator('#toast', { hasText: 'Conversation deleted' }).waitFor();
  await page.getByRole('heading', { name: 'Conversations' }).waitFor();
  await settled(page);
  assert.equal(await page.locator(`a[href="#/conversations/${id}"]`).count(), 0);
  await shot(page, 'conversation-deleted');
  assert.equal((await call(server.base, ctx.admin, `/api/conversations/${id}`)).status, 404);
  assert.equal((await fetch(`${server.base}/api/conversations/${id}/audio`, { headers: { authorization: `Bearer ${ctx.admin}` } })).status, 404);
  assert.deepEqual(page.problems(), []);
  await page.context().close();
}

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export default [
  ['upload: two WAVs dropped, each with its progress and result, become listed conversations', uploadAndSee],
  ['audio: the recording plays from a segment and seeks, through ranged requests answered 206', playAndSeek],
  ['star: a conversation starred from its page is starred, and the starred filter finds it', star],
  ['delete: after a confirmation, a conversation and its recording are gone', remove],
];
