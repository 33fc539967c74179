// The browser half of `chronicle-bench web` (crates/bench/src/web.rs), which starts the server,
// fills its store and runs this with CHRONICLE_URL, CHRONICLE_EMAIL, CHRONICLE_PASSWORD,
// DETAIL_ID, NEWEST_TITLE and ROUNDS. It signs in once, then for each round opens a fresh page
// (the session cookie kept, the HTTP cache empty) and measures from navigation start until
// the conversations list shows its newest card, and until a conversation's transcript shows;
// and the bytes the first load transferred (headers and bodies, as the network saw them).
// Prints one JSON object.

import { chromium } from 'playwright-core';

const base = process.env.CHRONICLE_URL;
const rounds = Number(process.env.ROUNDS || 20);

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  const context = await browser.newContext({ baseURL: base, viewport: { width: 1280, height: 860 } });
  const signIn = await context.newPage();
  await signIn.goto('/');
  await signIn.getByLabel('Email').fill(process.env.CHRONICLE_EMAIL);
  await signIn.getByLabel('Password').fill(process.env.CHRONICLE_PASSWORD);
  await signIn.getByRole('button', { name: 'Sign in' }).click();
  await signIn.getByRole('button', { name: 'Sign out' }).waitFor();
  await signIn.close();

  /** Milliseconds from navigation start to `ready` on a fresh page; and what it transferred. */
  async function load(hash, ready) {
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
    let bytes = 0;
    let requests = 0;
    cdp.on('Network.loadingFinished', (event) => { bytes += event.encodedDataLength; requests += 1; });
    await page.goto(`/${hash}`, { waitUntil: 'commit' });
    await ready(page).waitFor({ timeout: 30_000 });
    const ms = await page.evaluate(() => performance.now());
    await page.close();
    return { ms, bytes, requests };
  }

  const summary = (runs) => {
    const ms = runs.map((r) => r.ms).sort((a, b) => a - b);
    const at = (p) => ms[Math.min(ms.length - 1, Math.ceil(ms.length * p) - 1)];
    return { p50_ms: at(0.5), p90_ms: at(0.9), max_ms: ms[ms.length - 1], bytes: runs[0].bytes, requests: runs[0].requests };
  };
  const list = [];
  const detail = [];
  for (let round = 0; round < rounds; round += 1) {
    list.push(await load('#/conversations', (page) => page.getByRole('link', { name: process.env.NEWEST_TITLE })));
    detail.push(await load(`#/conversations/${process.env.DETAIL_ID}`, (page) => page.locator('ol.segments li').nth(11)));
  }
  console.log(JSON.stringify({ rounds, list: summary(list), detail: summary(detail) }));
} finally {
  await browser.close();
}
