// The Live page while a device streams over /ws: the interim transcript, then the final one,
// and a button press, shown while the device is still streaming.

import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { ADMIN, call, eventually, openPage, settled, shot, signIn, token, tone } from '../harness.mjs';

/** A device on `/ws` (the Wyoming protocol: a JSON header line, then its binary payload). */
async function device(base, bearer) {
  const url = `${base.replace(/^http/, 'ws')}/ws?codec=pcm&token=${encodeURIComponent(bearer)}&device_name=Pendant`;
  const socket = new WebSocket(url);
  const messages = [];
  socket.on('message', (data, binary) => { if (!binary) messages.push(JSON.parse(String(data))); });
  await new Promise((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject); });
  await eventually('the device to be told it is ready', () => messages.some((m) => m.type === 'ready'));
  const send = (header, payload) => {
    socket.send(JSON.stringify(header));
    if (payload) socket.send(payload);
  };
  return { socket, messages, send };
}

async function live(ctx) {
  const { server, browser } = ctx;
  const page = await openPage(browser, server.base);
  await signIn(page, ADMIN, '#/live');
  await page.locator('.title .chip', { hasText: 'live' }).waitFor();
  await settled(page);
  // Every class a feed line ever had, to see the interim line that the final one replaces.
  await page.evaluate(() => {
    window.seen = new Set();
    new MutationObserver(() => {
      for (const li of document.querySelectorAll('.feed li')) window.seen.add(li.className);
    }).observe(document.querySelector('.feed'), { childList: true, subtree: true });
  });

  const pendant = await device(server.base, await token(server.base, ADMIN));
  const format = { rate: 16000, width: 2, channels: 1 };
  pendant.send({ type: 'audio-start', data: { ...format, mode: 'streaming' } });
  // Three seconds of audio in tenths, a little faster than real time.
  for (let i = 0; i < 30; i++) {
    const chunk = tone(0.1);
    pendant.send({ type: 'audio-chunk', data: format, payload_length: chunk.length }, chunk);
    await new Promise((resolve) => setTimeout(resolve, 40));
  }
  const final = page.locator('.feed li.final', { hasText: 'Remind me to buy oat milk.' });
  await final.waitFor();
  assert.equal(pendant.socket.readyState, WebSocket.OPEN, 'shown while the device still streams');
  assert.match(await final.innerText(), /pendant/, 'the line names the device');
  assert.ok(await page.evaluate(() => window.seen.has('interim')), 'an interim line was shown first');

  pendant.send({ type: 'button-event', data: { state: 'DOUBLE_PRESS' } });
  await page.locator('.feed li.press', { hasText: 'double press' }).waitFor();
  await page.locator('.feed li.final', { hasText: 'I need to call Anna tomorrow.' }).waitFor();
  // The session is listed as open while it runs.
  await page.locator('table tbody tr', { hasText: 'pendant' }).first().waitFor();
  await shot(page, 'live');

  // The open conversation, closed from its page while the device is still connected.
  const { body } = await call(server.base, ctx.admin, '/api/conversations?limit=5');
  const open = body.conversations.find((c) => !c.end_reason);
  assert.ok(open, JSON.stringify(body.conversations));
  const detail = await openPage(browser, server.base);
  await signIn(detail, ADMIN, `#/conversations/${open.conversation_id}`);
  await detail.getByText('open', { exact: true }).first().waitFor();
  await detail.getByRole('button', { name: 'Close conversation' }).click();
  await detail.locator('#toast', { hasText: 'Conversation closed' }).waitFor();
  await detail.getByText('ended: user requested').waitFor();
  assert.equal(await detail.getByRole('button', { name: 'Close conversation' }).count(), 0);
  assert.deepEqual(detail.problems(), []);
  await detail.context().close();

  pendant.send({ type: 'audio-stop' });
  pendant.socket.close();
  await page.locator('.feed li.session', { hasText: 'ended' }).waitFor();
  assert.deepEqual(page.problems(), []);
  await page.context().close();
}

export default [
  ['live: a streaming session\'s interim and final transcript and a button press appear as they happen; its conversation is closed from its page', live],
];
