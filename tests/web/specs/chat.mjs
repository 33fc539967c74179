// The Chat page: a question is answered as it streams, with the tool the model used and the
// source it cited, linked to its conversation; the session stays in the list.

import assert from 'node:assert/strict';
import { ADMIN, PHONE, openPage, signIn, shot, upload, eventually, call } from '../harness.mjs';

async function chatting({ server, browser, admin }) {
  // Something to find: an uploaded conversation that says "buy oat milk".
  await upload(server.base, admin, ['chat-oat-milk.wav']);
  await eventually('the upload transcribed', async () => {
    const { body } = await call(server.base, admin, '/api/search?q=oat%20milk&kind=conversation');
    return body.hits?.length > 0;
  });
  const page = await openPage(browser, server.base);
  await signIn(page, ADMIN, '#/chat');
  await page.getByText('Start a new chat').waitFor();
  await page.getByRole('button', { name: 'New chat' }).click();
  await page.getByRole('textbox', { name: 'Question' }).fill('What did I want to buy?');
  await page.getByRole('button', { name: 'Ask' }).click();
  const answer = page.locator('.chat-message.assistant').last();
  await answer.getByText('You wanted to buy oat milk').waitFor();
  await answer.locator('.chat-tools').getByText('searched “What did I want to buy?”').waitFor();
  const source = answer.locator('.chat-sources li').first();
  await source.waitFor();
  assert.match(await source.textContent(), /oat milk/i);
  await page.waitForFunction(() => !document.querySelector('.chat-message.streaming'));
  await shot(page, 'chat-desktop');
  // The session is listed, titled by its question, and its answer is kept.
  await page.getByRole('navigation', { name: 'Chat sessions' }).getByRole('link', { name: 'What did I want to buy?' }).waitFor();
  await page.reload();
  await page.locator('.chat-message.assistant .chat-sources li').first().waitFor();
  await source.getByRole('link', { name: 'open the conversation' }).click();
  await page.getByRole('heading', { name: 'Transcript' }).waitFor();
  assert.deepEqual(page.problems(), []);
  await page.context().close();

  const phone = await openPage(browser, server.base, PHONE);
  await signIn(phone, ADMIN, '#/chat');
  await phone.locator('.chat-sessions a').first().click();
  await phone.locator('.chat-message.assistant').first().waitFor();
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  assert.equal(overflow, false, 'no sideways scrolling at 375 px');
  await shot(phone, 'chat-phone');
  assert.deepEqual(phone.problems(), []);
  await phone.context().close();
}

export default [
  ['chat: a question is answered as it streams, citing its source, and the session is kept', chatting],
];
