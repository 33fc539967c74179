// Plugins (admins): each plugin's runtime, health and why, events, condition, priority;
// enable/disable, its settings as a form, Test connection; and the raw plugins.yml editor,
// whose save is validated by the server first.

import { api } from './api.js';
import { h, show, load, loading, empty, failure, title, field, action, toast, chip } from './ui.js';
import { EVENTS } from './events.js';

// What the server shows instead of a secret's value; sent back, it means "unchanged".
const MASK = '••••••••••••';

export function render(main, ctx) {
  const tabs = h('nav', { class: 'tabs', 'aria-label': 'Plugin views' },
    h('a', { href: '#/plugins', 'aria-current': ctx.args[0] ? null : 'page' }, 'Plugins'),
    h('a', { href: '#/plugins/config', 'aria-current': ctx.args[0] === 'config' ? 'page' : null }, 'plugins.yml'),
    h('a', { href: '#/documents' }, 'Documents'));
  return ctx.args[0] === 'config' ? editor(main, tabs) : list(main, tabs);
}

function list(main, tabs) {
  const results = h('section', { 'aria-label': 'Plugins' });
  const reload = action('Reload plugins', async () => {
    const answer = await api('/api/admin/plugins/reload', { method: 'POST' });
    toast(answer.skipped ? 'Plugins already up to date: the last change was applied'
      : `Plugins reloaded: ${answer.initialized?.length ?? 0} initialized, ${answer.failed?.length ?? 0} failed`);
    refresh();
  });
  show(main, title('Plugins', reload), tabs, results);
  const refresh = () => load(results, () => Promise.all([
    api('/api/admin/plugins/metadata'), api('/api/admin/plugins/health'),
  ]), ([metadata, health]) => {
    const running = new Map(health.plugins.map((p) => [p.plugin_id, p]));
    return metadata.plugins.length
      ? h('ul', { class: 'cards plugins' }, metadata.plugins.map((p) => plugin(p, running.get(p.plugin_id), refresh)))
      : empty('No plugins: add one to plugins.yml.');
  });
  refresh();
}

function plugin(p, running, refresh) {
  const o = p.orchestration || {};
  const tests = h('div', { 'aria-live': 'polite' });
  const status = p.enabled ? p.status : 'disabled';
  return h('li', { class: 'card plugin', id: `plugin-${p.plugin_id}` },
    h('div', { class: 'row between' },
      h('h2', null, p.name && p.name !== p.plugin_id ? `${p.name} ` : '', h('code', null, p.plugin_id)),
      chip(status)),
    p.description && h('p', null, p.description),
    p.error && h('p', { class: 'bad' }, p.error),
    h('dl', { class: 'facts' },
      fact('Runtime', p.runtime, running?.pid && ` (pid ${running.pid}, ${running.restarts} restarts)`),
      fact('Events', (o.events || []).join(', ') || '—'),
      fact('Condition', condition(o.condition)),
      fact('Priority', o.priority ?? '—'),
      permissions(p),
      // A process plugin's confinement: "landlock", or why there is none (the kernel lacks it).
      p.runtime !== 'native' && p.sandbox && fact('Sandbox', p.sandbox)),
    h('div', { class: 'row' },
      action(p.enabled ? 'Disable' : 'Enable', async () => {
        await save(p.plugin_id, { orchestration: { enabled: !p.enabled }, settings: {} });
        refresh();
      }),
      action('Test connection', async () => {
        show(tests, loading('Testing…'));
        try { show(tests, report(await api(`/api/admin/plugins/${encodeURIComponent(p.plugin_id)}/test-connection`, { method: 'POST' }))); } catch (error) { show(tests, failure(error)); }
      })),
    tests,
    h('details', null, h('summary', null, 'Settings'), settingsForm(p, refresh)));
}

const fact = (term, ...value) => [h('dt', null, term), h('dd', null, value)];

/** `{"type": "wake_word", "wake_words": ["hey hermes"]}` → `wake word: wake_words hey hermes`. */
function condition(c) {
  if (c == null) return 'always';
  if (typeof c !== 'object') return String(c);
  const { type = 'always', ...rest } = c;
  const parts = Object.entries(rest).map(([key, value]) =>
    `${key} ${Array.isArray(value) ? value.join(', ') : typeof value === 'object' ? JSON.stringify(value) : value}`);
  return [type.replaceAll('_', ' '), ...parts].join(' · ');
}

/**
 * What the plugin may call: its `permissions:` list, or every service when it lists none (as
 * the Python original), with the least list its calls so far needed. Left out when the
 * server does not say.
 */
function permissions(p) {
  if (p.permissions === undefined) return null;
  const used = p.permissions_used?.length ? ` (its calls so far needed: ${p.permissions_used.join(', ')})` : '';
  return fact('Permissions', p.permissions === null ? 'every service: none listed' : p.permissions.join(', ') || 'none', used);
}

/** Each step of a connection test, and for a failed one what to change. */
function report(r) {
  return h('div', { class: `report ${r.ok ? 'ok' : 'bad'}` },
    h('p', null, h('strong', null, r.ok ? 'The connection works.' : 'The connection test failed.')),
    h('ol', { class: 'steps' }, r.checks.map((c) => h('li', { class: c.ok ? 'ok' : 'bad' },
      h('span', { class: 'mark', 'aria-label': c.ok ? 'passed' : 'failed' }, c.ok ? '✓' : '✗'), ' ',
      h('strong', null, c.name), ': ', c.detail,
      c.fix && h('p', { class: 'fix' }, 'Fix: ', c.fix)))));
}

async function save(id, body) {
  const answer = await api(`/api/admin/plugins/config/structured/${encodeURIComponent(id)}`, { method: 'POST', json: body });
  toast(answer.message || 'Saved', answer.success === false ? 'bad' : 'ok');
  return answer;
}

/**
 * The plugin's orchestration (enabled, events, priority) and a control per setting, by the
 * type of its current value: booleans as checkboxes, numbers as number fields, strings as
 * text, lists of words one per line, anything deeper as JSON. Secrets come masked: an
 * untouched password field sends the mask back, which the server reads as "unchanged". Only
 * what changed is sent; the server validates it like a raw edit before writing plugins.yml.
 */
function settingsForm(p, refresh) {
  const config = p.current_config || {};
  const o = p.orchestration || {};
  const enabled = h('input', { type: 'checkbox', checked: p.enabled });
  const subscribed = new Set(o.events || []);
  const events = EVENTS.map((name) => h('input', { type: 'checkbox', value: name, checked: subscribed.has(name) }));
  const priority = h('input', { type: 'number', step: '1', value: String(o.priority ?? 100) });
  const fields = Object.entries(config).map(([key, value]) => control(p.plugin_id, key, value, (p.secret_settings || []).includes(key)));
  const errors = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'settings', 'aria-label': `Settings of ${p.plugin_id}` },
    h('label', { class: 'check' }, enabled, ' Enabled'),
    h('fieldset', { class: 'events' }, h('legend', null, 'Events'),
      events.map((box) => h('label', { class: 'check' }, box, ' ', box.value))),
    field('Priority', priority, 'lower runs first'),
    fields.length ? fields.map((f) => f.label) : empty('This plugin has no settings.'),
    errors, h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Save settings')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    show(errors);
    const orchestration = { enabled: enabled.checked };
    const chosen = events.filter((box) => box.checked).map((box) => box.value);
    if (chosen.join() !== EVENTS.filter((name) => subscribed.has(name)).join()) orchestration.events = chosen;
    if (priority.value !== '' && Number(priority.value) !== (o.priority ?? 100)) orchestration.priority = Number(priority.value);
    const settings = {};
    try {
      for (const f of fields) {
        const value = f.read();
        if (value !== undefined) settings[f.key] = value;
      }
    } catch (error) {
      return show(errors, failure(error));
    }
    try {
      await save(p.plugin_id, { orchestration, settings });
      refresh();
    } catch (error) {
      show(errors, failure(error), error.body?.errors && h('ul', null, error.body.errors.map((m) => h('li', { class: 'bad' }, m))));
    }
  });
  return form;
}

/** Whether a value holds the mask anywhere: a secret the browser was never given. */
const masked = (value) => JSON.stringify(value).includes(MASK);

/** One setting's control and how to read it back: `undefined` when unchanged. */
// `secret`: the server counts this setting as a credential (metadata's `secret_settings`).
function control(plugin, key, value, secret) {
  const id = `setting-${plugin}-${key}`;
  let input, read;
  const same = (next) => (JSON.stringify(next) === JSON.stringify(value) ? undefined : next);
  if (typeof value === 'boolean') {
    input = h('input', { type: 'checkbox', checked: value });
    read = () => same(input.checked);
  } else if (typeof value === 'number') {
    input = h('input', { type: 'number', step: 'any', value: String(value) });
    read = () => same(input.value === '' ? null : Number(input.value));
  } else if (secret && (typeof value === 'string' || value == null)) {
    const set = value === MASK;
    input = h('input', { type: 'password', autocomplete: 'new-password', placeholder: set ? `${MASK} (set; type to replace)` : 'not set' });
    read = () => (input.value === '' ? (set ? MASK : undefined) : input.value);
  } else if (Array.isArray(value) && value.every((v) => typeof v === 'string' || typeof v === 'number')) {
    input = h('textarea', { rows: String(Math.max(2, value.length + 1)), value: value.join('\n') });
    const numbers = value.length > 0 && value.every((v) => typeof v === 'number');
    read = () => same(input.value.split('\n').map((v) => v.trim()).filter(Boolean).map((v) => (numbers ? Number(v) : v)));
  } else if (value !== null && typeof value === 'object') {
    const text = JSON.stringify(value, null, 2);
    input = h('textarea', { rows: String(Math.min(12, text.split('\n').length)), value: text, class: 'code' });
    read = () => {
      if (input.value === text) return undefined; // untouched: masked secrets inside stay as they are
      let next;
      try { next = JSON.parse(input.value); } catch (error) { throw new Error(`${key} is not valid JSON: ${error.message}`); }
      // The server keeps a masked secret only at the top level; deeper, the dots would be saved.
      if (masked(next)) throw new Error(`${key} holds secrets shown as dots, which would be saved as dots: change it in the plugins.yml editor`);
      return same(next);
    };
  } else {
    input = h('input', { value: value ?? '' });
    read = () => (input.value === (value ?? '') ? undefined : input.value);
  }
  input.id = id;
  const hint = Array.isArray(value) && input.tagName === 'TEXTAREA' && !input.classList.contains('code') ? 'one per line'
    : input.classList.contains('code') ? 'JSON' : null;
  return { key, read, label: input.type === 'checkbox' ? h('label', { class: 'check' }, input, ' ', key) : field(key, input, hint) };
}

/**
 * The raw plugins.yml, line-numbered. Save asks the server to validate first: each error is
 * listed at its line and column (a click puts the cursor there) and nothing is written; a
 * valid file is saved, and the server reloads the plugins with it.
 */
async function editor(main, tabs) {
  const area = h('textarea', { class: 'code', spellcheck: 'false', wrap: 'off', 'aria-label': 'plugins.yml', id: 'plugins-yml' });
  const gutter = h('pre', { class: 'gutter', 'aria-hidden': 'true' });
  const problems = h('div', { class: 'problems', 'aria-live': 'polite' });
  let marked = new Set();
  const number = () => {
    const lines = area.value.split('\n').length;
    gutter.replaceChildren(...Array.from({ length: lines }, (_, i) =>
      h('span', { class: marked.has(i + 1) ? 'marked' : null }, String(i + 1))));
    gutter.scrollTop = area.scrollTop;
  };
  area.addEventListener('input', number);
  area.addEventListener('scroll', () => { gutter.scrollTop = area.scrollTop; });
  const validate = action('Validate', async () => { await check(); });
  const saveButton = action('Save and reload', async () => {
    if (!(await check())) return;
    const answer = await api('/api/admin/plugins/config', { method: 'PUT', body: area.value, headers: { 'content-type': 'text/plain; charset=utf-8' } });
    const reload = answer.reload || {};
    show(problems, h('div', { class: `report ${answer.success ? 'ok' : 'bad'}`, role: 'status' },
      h('p', null, h('strong', null, answer.message)),
      reload.initialized && h('p', null, `Initialized: ${reload.initialized.join(', ') || 'none'}`),
      reload.failed?.length > 0 && h('ul', null, reload.failed.map((f) => h('li', { class: 'bad' }, `${f.plugin_id}: ${f.error || f.status}`))),
      reload.errors && h('ul', null, reload.errors.map((m) => h('li', { class: 'bad' }, m)))));
    toast(answer.message, answer.success ? 'ok' : 'bad');
  }, { class: 'primary' });

  /** Validates on the server; shows the errors; whether the text is valid. */
  async function check() {
    const answer = await api('/api/admin/plugins/config/validate', { method: 'POST', body: area.value, headers: { 'content-type': 'text/plain; charset=utf-8' } });
    const errors = (answer.errors || []).map(parse);
    marked = new Set(errors.filter((e) => e.here).map((e) => e.line));
    number();
    if (answer.valid) {
      show(problems, h('p', { class: 'report ok', role: 'status' }, answer.message || 'The configuration is valid.'));
      return true;
    }
    show(problems, h('div', { class: 'report bad', role: 'alert' },
      h('p', null, h('strong', null, `${errors.length} error${errors.length === 1 ? '' : 's'}; nothing was saved.`)),
      h('ul', { class: 'errors' }, errors.map((e) => h('li', null,
        e.here ? h('button', { type: 'button', class: 'link', onClick: () => jump(e) }, `line ${e.line}, column ${e.column}`)
          : e.file && h('code', null, `${e.file}:${e.line}:${e.column}`),
        e.line ? ': ' : '', e.message, e.help && h('p', { class: 'fix' }, 'Help: ', e.help))))));
    problems.querySelector('button.link')?.focus();
    return false;
  }

  /** Puts the cursor at an error's line and column, and scrolls it into view. */
  function jump({ line, column }) {
    const lines = area.value.split('\n');
    const at = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0) + Math.max(0, column - 1);
    area.focus();
    area.setSelectionRange(at, Math.min(at + (lines[line - 1] || '').length - column + 1, area.value.length));
    const height = area.scrollHeight / Math.max(1, lines.length);
    area.scrollTop = Math.max(0, (line - 3) * height);
  }

  show(main, title('plugins.yml'), tabs, loading());
  try {
    area.value = await api('/api/admin/plugins/config', { headers: { accept: 'text/plain' } });
  } catch (error) {
    return show(main, title('plugins.yml'), tabs, failure(error));
  }
  number();
  show(main, title('plugins.yml'), tabs,
    h('p', null, 'The file the server loads plugins from. Saving validates it first: nothing is written while it has errors.'),
    h('div', { class: 'editor' }, gutter, area),
    h('div', { class: 'row' }, validate, saveButton), problems);
}

/** `/path/plugins.yml:3:5: message\n    help: hint` → its parts; `here` when it is this file. */
function parse(text) {
  const [first, ...rest] = text.split('\n');
  const match = /^(.*?):(\d+):(\d+): (.*)$/.exec(first);
  const help = rest.map((l) => l.trim().replace(/^help:\s*/, '')).filter(Boolean).join(' ');
  if (!match) return { message: first, help };
  const [, file, line, column, message] = match;
  return { file, line: Number(line), column: Number(column), message, help, here: /(^|\/)plugins\.yml$/.test(file) };
}
