// Dead letters: deliveries to a webhook receiver that is down die after their retry; once it
// is back, one replayed from the Deliveries page succeeds, then "Replay all dead" takes the
// rest. The Events page shows the failures live as they happen.

import assert from 'node:assert/strict';
import { ADMIN, call, eventually, openPage, settled, shot, signIn, upload } from '../harness.mjs';

async function replay(ctx) {
  const { server, browser, receiver } = ctx;
  const events = await openPage(browser, server.base);
  await signIn(events, ADMIN, '#/events');
  await events.locator('.title .chip', { hasText: 'live' }).waitFor();
  await settled(events);
  const before = await events.locator('.records > li').count();

  receiver.broken = true;
  const ids = await upload(server.base, ctx.admin, ['doomed-1.wav', 'doomed-2.wav'], 1);
  const dead = await eventually('both deliveries to the webhook to die', async () => {
    const { body } = await call(server.base, ctx.admin, '/api/admin/deliveries?status=dead');
    const rows = body.deliveries.filter((d) => d.plugin_id === 'webhook');
    return rows.length === ids.length ? rows : null;
  }, 30_000);
  receiver.broken = false;
  assert.ok(dead.every((d) => d.attempt === 2 && /500/.test(d.last_error)), JSON.stringify(dead));

  // Meanwhile the Events page heard them, without a reload.
  await eventually('the failures on the Events page', async () => (await events.locator('.records > li.fresh .chip.failed', { hasText: 'webhook' }).count()) >= 1);
  assert.ok((await events.locator('.records > li').count()) > before);
  const record = events.locator('.records > li.fresh', { has: events.locator('.chip.failed') }).first();
  await record.locator('summary').click();
  assert.match(await record.locator('table').first().innerText(), /webhook\s+failed/);
  await shot(events, 'events');
  assert.deepEqual(events.problems(), []);
  await events.context().close();

  const page = await openPage(browser, server.base);
  await signIn(page, ADMIN, '#/deliveries');
  const row = (id) => page.locator(`tr[data-id="${id}"]`);
  await row(dead[0].id).waitFor();
  assert.equal(await row(dead[0].id).locator('td.status').innerText(), 'dead');
  assert.match(await row(dead[0].id).locator('td.error-text').innerText(), /500/);
  await shot(page, 'deliveries-dead');

  await page.getByRole('button', { name: `Replay delivery ${dead[0].id}` }).click();
  // The page refreshes itself while a delivery is on its way.
  await eventually('the replayed delivery to show succeeded', async () => (await row(dead[0].id).locator('td.status').innerText()) === 'succeeded');
  assert.equal(await row(dead[1].id).locator('td.status').innerText(), 'dead', 'only the one replayed');

  await page.getByRole('button', { name: 'Replay all dead' }).click();
  await eventually('every dead delivery to show succeeded', async () => (await row(dead[1].id).locator('td.status').innerText()) === 'succeeded');
  const { body } = await call(server.base, ctx.admin, '/api/admin/deliveries?status=dead');
  assert.equal(body.deliveries.length, 0);
  const { body: all } = await call(server.base, ctx.admin, '/api/admin/deliveries');
  for (const d of dead) assert.equal(all.deliveries.find((r) => r.id === d.id).attempt, 3);
  assert.ok(await page.getByRole('button', { name: 'Replay all dead' }).isDisabled());
  await settled(page);
  await shot(page, 'deliveries');
  assert.deepEqual(page.problems(), []);
  await page.context().close();
}

export default [
  ['deliveries: a dead delivery replayed turns succeeded, and replay all dead takes the rest', replay],
];
