// The plugins admin page: the raw plugins.yml editor (validated before saving, errors at
// their line and column) and Test connection's steps.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { ADMIN, call, eventually, openPage, settled, shot, signIn } from '../harness.mjs';

const entry = (events) => `
  keyword_alerter:
    enabled: true
    events: [${events}]
    keywords: [urgent, oat milk]
`;

async function editYml(ctx) {
  const { server, browser } = ctx;
  const file = server.path('config/plugins.yml');
  const original = fs.readFileSync(file, 'utf8');
  const page = await openPage(browser, server.base);
  await signIn(page, ADMIN, '#/plugins/config');
  const editor = page.getByRole('textbox', { name: 'plugins.yml' });
  await eventually('the editor to hold plugins.yml', async () => (await editor.inputValue()) === original);

  // An event that does not exist: refused at its line, and nothing is written.
  const broken = original + entry('transcript.streaming, conversation.finished');
  const line = broken.split('\n').findIndex((l) => l.includes('conversation.finished')) + 1;
  await editor.fill(broken);
  await page.getByRole('button', { name: 'Save and reload' }).click();
  const report = page.locator('.problems .report.bad');
  await report.waitFor();
  assert.match(await report.innerText(), /1 error; nothing was saved\./);
  const where = report.getByRole('button', { name: new RegExp(`^line ${line}, column \\d+$`) });
  await where.waitFor();
  assert.match(await report.innerText(), /conversation\.finished/);
  assert.equal(await page.locator(`.gutter span:nth-child(${line})`).getAttribute('class'), 'marked');
  assert.equal(fs.readFileSync(file, 'utf8'), original, 'a refused file is not written');
  // The error's place is a button that puts the cursor on it.
  await where.click();
  const cursor = await editor.evaluate((area) => area.value.slice(0, area.selectionStart).split('\n').length);
  assert.equal(cursor, line);
  await shot(page, 'plugins-yml-error');

  // Fixed: saved, and the plugins reload with the new one.
  const fixed = original + entry('transcript.streaming');
  await editor.fill(fixed);
  await page.getByRole('button', { name: 'Save and reload' }).click();
  await page.locator('.problems .report.ok', { hasText: 'Configuration saved and plugins reloaded' }).waitFor();
  assert.equal(fs.readFileSync(file, 'utf8'), fixed);
  await eventually('keyword_alerter to run', async () => {
    const { body } = await call(server.base, ctx.admin, '/api/admin/plugins/health');
    return body.plugins.some((p) => p.plugin_id === 'keyword_alerter' && p.status === 'initialized');
  });
  await page.getByRole('link', { name: 'Plugins', exact: true }).first().click();
  const card = page.locator('#plugin-keyword_alerter');
  await card.waitFor();
  assert.match(await card.innerText(), /initialized/);
  assert.match(await card.innerText(), /transcript\.streaming/);
  assert.deepEqual(page.problems(), []);
  await page.context().close();
}

async function testConnection(ctx) {
  const { server, browser, receiver } = ctx;
  const page = await openPage(browser, server.base);
  await signIn(page, ADMIN, '#/plugins');
  const card = page.locator('#plugin-webhook');
  await card.waitFor();
  assert.match(await card.innerText(), /Runtime\s+native/i);
  assert.match(await card.innerText(), /Events\s+conversation\.complete/);
  assert.match(await card.innerText(), /Priority\s+20/);

  // A receiver that fails: the step says what happened and how to fix it.
  receiver.broken = true;
  await card.getByRole('button', { name: 'Test connection' }).click();
  const failed = card.locator('.report.bad');
  await failed.waitFor();
  const steps = await failed.innerText();
  assert.match(steps, /The connection test failed\./);
  assert.match(steps, /✗\s*POST test receiver: .*500/);
  assert.match(steps, /Fix: /);
  await shot(page, 'plugins-test-connection');

  receiver.broken = false;
  await card.getByRole('button', { name: 'Test connection' }).click();
  const passed = card.locator('.report.ok');
  await passed.waitFor();
  assert.match(await passed.innerText(), /The connection works\./);
  assert.match(await passed.innerText(), /✓\s*POST test receiver: answered 200/);

  // The settings form shows the webhook's secret masked, never its value.
  await card.getByText('Settings', { exact: true }).click();
  const settings = await card.locator('form.settings').innerText();
  assert.doesNotMatch(await page.content(), /whsec_/);
  assert.match(settings + await card.locator('form.settings textarea').first().inputValue(), /••••/);
  await settled(page);
  assert.deepEqual(page.problems(), []);
  await page.context().close();
}

async function settingsForm(ctx) {
  const { server, browser } = ctx;
  const file = server.path('config/plugins.yml');
  const page = await openPage(browser, server.base);
  await signIn(page, ADMIN, '#/plugins');
  const card = page.locator('#plugin-todo_extractor');
  await card.getByText('Settings', { exact: true }).click();
  const form = card.getByRole('form', { name: 'Settings of todo_extractor' });
  assert.ok(await form.getByLabel('conversation.complete').isChecked());
  assert.ok(!(await form.getByLabel('memory.processed').isChecked()));
  await form.getByLabel('Priority').fill('15');
  await form.getByLabel('memory.processed').check();
  const phrases = form.getByLabel('phrases');
  assert.equal(await phrases.inputValue(), 'remind me to\nI need to');
  await phrases.fill('remind me to\nI need to\ndon\'t forget to');
  await form.getByRole('button', { name: 'Save settings' }).click();
  await page.locator('#toast', { hasText: 'and reloaded the plugins' }).waitFor();
  const yml = fs.readFileSync(file, 'utf8');
  const entry = yml.slice(yml.indexOf('todo_extractor:'), yml.indexOf('webhook:'));
  assert.match(entry, /priority: 15/);
  assert.match(entry, /don't forget to/);
  assert.match(entry, /memory\.processed/);
  assert.match(yml, /^# The web tests' plugins\./, 'the comments stay');
  await eventually('the card to show the new priority', async () => /Priority\s+15/.test(await page.locator('#plugin-todo_extractor').innerText()));
  await shot(page, 'plugins-settings-saved');
  assert.deepEqual(page.problems(), []);
  await page.context().close();
}

export default [
  ['plugins.yml: an edit with an error is shown at its line and not saved; the fixed edit is saved and reloads', editYml],
  ['test connection: each step is shown, with the fix for a failed one', testConnection],
  ['settings form: events, priority and a list are saved into plugins.yml, its comments kept', settingsForm],
];
