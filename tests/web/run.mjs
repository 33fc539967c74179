// The web app's end-to-end tests: one `chronicle serve` and one headless Chromium for all of
// them, the tests in order (later ones build on what earlier ones made: the uploaded
// conversation, the edited plugins.yml). Run by crates/cli/tests/web.rs, which builds the
// binary and starts the test transcription (Deepgram protocol) and language-model servers;
// by hand:
//
//   CHRONICLE_BIN=target/debug/chronicle DEEPGRAM_URL=ws://… LLM_BASE_URL=http://…/v1 node run.mjs
//
// WEB_TEST_ONLY=<words> runs the tests whose names contain them (and the ones before that
// they need stay in: the order is the data). UPDATE_DOCS_SCREENSHOTS=1 copies the chosen
// screenshots into docs/screenshots/.

import { after, before, test } from 'node:test';
import fs from 'node:fs';
import path from 'node:path';
import { ADMIN, ROOT, SHOTS, launchBrowser, pluginsYml, startServer, token, webhookReceiver } from './harness.mjs';
import apiDocs from './specs/api-docs.mjs';
import account from './specs/account.mjs';
import conversations from './specs/conversations.mjs';
import live from './specs/live.mjs';
import plugins from './specs/plugins.mjs';
import deliveries from './specs/deliveries.mjs';
import pages from './specs/pages.mjs';
import chat from './specs/chat.mjs';

const ctx = {};

before(async () => {
  for (const name of ['DEEPGRAM_URL', 'LLM_BASE_URL']) {
    if (!process.env[name]) throw new Error(`${name} is not set: run these tests with \`cargo test -p chronicle-cli --test web\`, which starts the test servers`);
  }
  fs.rmSync(SHOTS, { recursive: true, force: true });
  ctx.receiver = await webhookReceiver();
  ctx.server = await startServer({
    plugins: pluginsYml(ctx.receiver.url),
    env: {
      TRANSCRIPTION_PROVIDER: 'deepgram',
      TRANSCRIPTION_URL: process.env.DEEPGRAM_URL,
      DEEPGRAM_API_KEY: 'dg-test-key',
      LLM_BASE_URL: process.env.LLM_BASE_URL,
      LLM_MODEL: 'llama3',
    },
  });
  ctx.browser = await launchBrowser();
  ctx.admin = await token(ctx.server.base, ADMIN);
});

after(async () => {
  await ctx.browser?.close();
  ctx.server?.stop();
  await ctx.receiver?.close();
  if (process.env.UPDATE_DOCS_SCREENSHOTS) copyToDocs();
});

const all = [...apiDocs, ...account, ...conversations, ...live, ...plugins, ...deliveries, ...pages, ...chat];
const only = process.env.WEB_TEST_ONLY;
const last = only ? all.findLastIndex(([name]) => name.includes(only)) : all.length - 1;
for (const [name, run] of all.slice(0, last + 1)) {
  test(name, { timeout: 90_000 }, () => run(ctx));
}

/** The screenshots docs/screenshots/ shows: one of each page, and the phone's list and detail. */
const DOCS = ['conversations-desktop', 'conversations-phone', 'conversation-desktop', 'conversation-phone',
  'conversations-dark', 'live', 'upload', 'memories-desktop', 'documents-todos-desktop', 'events',
  'plugins-desktop', 'plugins-test-connection', 'plugins-yml-error', 'deliveries', 'users-desktop', 'system-desktop',
  'signin-wrong-password', 'non-admin-not-found', 'account-api-key', 'search-desktop'];

function copyToDocs() {
  const docs = path.join(ROOT, 'docs/screenshots');
  fs.mkdirSync(docs, { recursive: true });
  for (const name of DOCS) {
    const from = path.join(SHOTS, `${name}.png`);
    if (fs.existsSync(from)) fs.copyFileSync(from, path.join(docs, `${name}.png`));
  }
}
