// What the web tests share: a temporary project and the real `chronicle serve` in it (as
// crates/cli/tests/support/mod.rs sets them up), a webhook receiver the tests can break and
// mend, headless Chromium (Debian's, never a downloaded one), sign-in, screenshots, audio
// made on the spot, and bounded waits that say what they waited for.

import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '../..');
export const SHOTS = process.env.WEB_SCREENSHOTS || path.join(ROOT, 'target/web-screenshots');
const BIN = process.env.CHRONICLE_BIN || path.join(ROOT, 'target/debug/chronicle');

export const ADMIN = { email: 'admin@example.com', password: 'admin-password' };
export const ALICE = { email: 'alice@example.com', password: 'alice-password' };
export const WEBHOOK_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

/** Polls `check` (which returns a truthy value when done) every 100 ms for at most `ms`. */
export async function eventually(what, check, ms = 20_000) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}; last seen: ${last?.stack || JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * A receiver of the webhook plugin's POSTs: answers 200, or 500 while `broken`, so a test can
 * make deliveries fail until they are dead letters and then let a replay succeed.
 */
export async function webhookReceiver() {
  const receiver = { broken: false, received: [] };
  const server = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => { body += chunk; });
    request.on('end', () => {
      receiver.received.push({ broken: receiver.broken, body });
      response.writeHead(receiver.broken ? 500 : 200, { 'content-type': 'text/plain' });
      response.end(receiver.broken ? 'the receiver is down for the test' : 'ok');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${server.address().port}/hook`;
  receiver.close = () => new Promise((resolve) => server.close(resolve));
  return receiver;
}

/** The project's plugins.yml: todos drawn from conversations, and a webhook to `url`. */
export function pluginsYml(url) {
  return `# The web tests' plugins.
plugins:
  todo_extractor:
    enabled: true
    events: [conversation.complete]
    priority: 10
    permissions: [database]
    phrases: [remind me to, I need to]

  webhook:
    enabled: true
    events: [conversation.complete]
    priority: 20
    max_retries: 1
    endpoints:
      - url: ${url}
        secret: ${WEBHOOK_SECRET}
        name: test receiver
`;
}

/**
 * `chronicle serve` in a new temporary project: `config/plugins.yml`, an empty `plugins/`,
 * its data in `data/`, Alice added with `chronicle user add`, the admin from ADMIN_EMAIL and
 * ADMIN_PASSWORD. It listens on 127.0.0.1 at a port the system picks; the first line it
 * prints names it.
 */
export async function startServer({ plugins, env = {} }) {
  if (!fs.existsSync(BIN)) throw new Error(`no chronicle binary at ${BIN}: build it (cargo build -p chronicle-cli) or set CHRONICLE_BIN`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chronicle-web-'));
  fs.mkdirSync(path.join(dir, 'config'));
  fs.mkdirSync(path.join(dir, 'plugins'));
  fs.writeFileSync(path.join(dir, 'config/plugins.yml'), plugins);
  const clean = { ...process.env };
  for (const name of ['CONFIG_DIR', 'PLUGINS_DIR', 'DATA_DIR', 'RUST_LOG']) delete clean[name];
  const run = (args) => execFileSync(BIN, args, { cwd: dir, env: clean, stdio: ['ignore', 'ignore', 'inherit'] });
  run(['user', 'add', ALICE.email, '--password', ALICE.password, '--data-dir', 'data']);

  const child = spawn(BIN, ['serve', '--bind', '127.0.0.1:0', '--log', 'warn', '--data-dir', 'data'], {
    cwd: dir,
    env: {
      ...clean,
      AUTH_SECRET_KEY: 'test-secret-key-0123456789',
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = readline.createInterface({ input: child.stdout });
  const base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('chronicle serve did not say where it listens within 60 s')), 60_000);
    child.once('exit', (code) => reject(new Error(`chronicle serve exited (${code}) before listening`)));
    lines.once('line', (line) => {
      clearTimeout(timer);
      const address = /listening on (\S+)/.exec(line)?.[1];
      if (address) resolve(address.replace(/\/$/, ''));
      else reject(new Error(`no address in ${JSON.stringify(line)}`));
    });
  });
  lines.on('line', () => {}); // drained, so the server never writes into a full pipe
  const stop = () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', stop);
  return { base, dir, child, stop, path: (relative) => path.join(dir, relative) };
}

/** A bearer token for `user` from `POST /auth/jwt/login`, for calls the browser does not make. */
export async function token(base, user) {
  const response = await fetch(`${base}/auth/jwt/login`, {
    method: 'POST',
    body: new URLSearchParams({ username: user.email, password: user.password }),
  });
  if (response.status !== 200) throw new Error(`login ${user.email}: ${response.status}`);
  return (await response.json()).access_token;
}

/** A JSON API call with a bearer token: `{status, body}`. */
export async function call(base, bearer, route, { method = 'GET', json } = {}) {
  const response = await fetch(`${base}${route}`, {
    method,
    headers: { authorization: `Bearer ${bearer}`, ...(json ? { 'content-type': 'application/json' } : {}) },
    body: json ? JSON.stringify(json) : undefined,
  });
  const text = await response.text();
  let body = text;
  try { body = JSON.parse(text); } catch { /* text it is */ }
  return { status: response.status, body };
}

/** Headless Chromium from Debian's package, with nothing fetched from the network. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--autoplay-policy=no-user-gesture-required'],
  });
}

export const DESKTOP = { width: 1280, height: 860 };
export const PHONE = { width: 375, height: 740 };

/**
 * A fresh browser context (its own cookies) and page on the server. Whatever the page logs
 * as an error (a script error, a blocked style or script under the CSP) is collected, and
 * `page.problems()` gives it; answers the app expects to fail (a wrong password's 400) are
 * not problems.
 */
export async function openPage(browser, base, viewport = DESKTOP) {
  const context = await browser.newContext({ viewport, baseURL: base, colorScheme: 'light' });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !/Failed to load resource/.test(message.text())) problems.push(message.text());
  });
  page.problems = () => problems;
  page.setDefaultTimeout(15_000);
  return page;
}

/** Opens the app and signs in through its form; resolves once the navigation bar shows. */
export async function signIn(page, user, hash = '#/conversations') {
  await page.goto(`/${hash}`);
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

/** Waits until the page's main area has finished loading (no spinner left). */
export async function settled(page) {
  await page.waitForFunction(() => !document.querySelector('main .state.loading'));
}

/** A full-page screenshot, `target/web-screenshots/<name>.png`. */
export async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  // From the top: a full-page shot of a scrolled page would paint the sticky bar mid-page.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

/** `seconds` of a 440 Hz tone as 16 kHz mono s16le samples. */
export function tone(seconds) {
  const samples = new Int16Array(Math.round(16_000 * seconds));
  for (let i = 0; i < samples.length; i++) samples[i] = Math.round(Math.sin((i * 440 * 2 * Math.PI) / 16_000) * 8000);
  return Buffer.from(samples.buffer);
}

/** A 16 kHz mono 16-bit WAV file of `seconds` of tone. */
export function wav(seconds) {
  const data = tone(seconds);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16); // fmt chunk size
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(16_000, 24);
  header.writeUInt32LE(32_000, 28); // bytes per second
  header.writeUInt16LE(2, 32); // block align
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}

/** Uploads WAV files through the API (as an admin's bearer); the conversation ids. */
export async function upload(base, bearer, names, seconds = 3) {
  const form = new FormData();
  for (const name of names) form.append('files', new Blob([wav(seconds)], { type: 'audio/wav' }), name);
  form.append('device_name', 'api upload');
  const response = await fetch(`${base}/api/audio/upload`, { method: 'POST', headers: { authorization: `Bearer ${bearer}` }, body: form });
  const body = await response.json();
  if (response.status !== 200) throw new Error(`upload: ${response.status} ${JSON.stringify(body)}`);
  return body.files.map((f) => f.conversation_id);
}
