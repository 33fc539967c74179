// Account: who you are and your personal API keys — make one (shown once, here, and never
// again: the server keeps only its hash), see each key's scope and last use, revoke one.
// Keys are made with this page's login, never with another key.

import { api } from './api.js';
import { h, show, load, empty, title, field, action, confirm, toast, chip, when } from './ui.js';

const SCOPES = [
  ['read', 'read (look only)'],
  ['write', 'write (also change)'],
  ['admin', 'admin (everything)'],
];
const LIFETIMES = [['', 'never (until revoked)'], ['30d', '30 days'], ['90d', '90 days'], ['365d', 'a year']];

export function render(main, { user }) {
  const made = h('div', { 'aria-live': 'polite' });
  const keys = h('section', { 'aria-labelledby': 'keys-title' });
  const refresh = () => load(keys, () => api('/api/keys'), ({ keys: list }) => [
    h('h2', { id: 'keys-title' }, 'Your API keys'),
    list.length ? h('ul', { class: 'cards' }, list.map((k) => keyCard(k, refresh)))
      : empty('No API keys yet: make one above for a script or an MCP client.'),
  ]);
  show(main, title('Account'),
    h('p', { class: 'meta' }, user.email, user.is_admin ? ' · admin' : ''),
    createForm(user, made, refresh), made, keys);
  refresh();
}

function createForm(user, made, refresh) {
  const name = h('input', { type: 'text', name: 'name', required: true, placeholder: 'Claude Desktop', autocomplete: 'off' });
  const scope = h('select', { name: 'scope' },
    SCOPES.filter(([value]) => value !== 'admin' || user.is_admin)
      .map(([value, label]) => h('option', { value }, label)));
  const expires = h('select', { name: 'expires' }, LIFETIMES.map(([value, label]) => h('option', { value }, label)));
  const form = h('form', { class: 'card add filters', 'aria-labelledby': 'new-key' },
    h('h2', { id: 'new-key', class: 'span' }, 'Make an API key'),
    field('Name', name, 'what will use it'), field('Scope', scope, 'write: uploads, edits, streams'), field('Expires', expires),
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Make key')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const answer = await api('/api/keys', {
        method: 'POST', json: { name: name.value.trim(), scope: scope.value, expires: expires.value || null },
      });
      form.reset();
      show(made, shownOnce(answer));
      refresh();
    } catch (error) { toast(error.message, 'bad'); }
  });
  return form;
}

/** The new key, in a field to copy from, with the warning that this is the only time. */
function shownOnce({ key, api_key: record }) {
  const value = h('input', { type: 'text', readOnly: true, value: key, class: 'mono', spellcheck: 'false' });
  const copy = h('button', { type: 'button' }, 'Copy');
  copy.addEventListener('click', async () => {
    value.select();
    try { await navigator.clipboard.writeText(key); toast('Copied'); } catch { toast('Select the key and copy it', 'bad'); }
  });
  const box = h('div', { class: 'card notice', role: 'status' },
    h('p', null, h('strong', null, `Your key “${record.name}”. `), 'Copy it now: it is shown only this once.'),
    field('Your new key', value), h('div', { class: 'row' }, copy));
  queueMicrotask(() => value.select());
  return box;
}

function keyCard(k, refresh) {
  const state = k.revoked_at ? 'revoked' : k.expires_at && k.expires_at <= new Date().toISOString() ? 'expired' : 'active';
  return h('li', { class: 'card key' },
    h('div', { class: 'row between' },
      h('strong', { class: 'name' }, k.name),
      h('span', { class: 'row' }, chip(k.scope, 'open'), chip(state, state === 'active' ? 'ok' : 'dead'))),
    h('p', { class: 'meta' }, h('code', null, `${k.prefix}…`), ' · made ', when(k.created_at),
      ' · last used ', k.last_used_at ? when(k.last_used_at) : 'never',
      ' · ', k.expires_at ? ['expires ', when(k.expires_at)] : 'no expiry'),
    state === 'active' && h('div', { class: 'row' },
      action('Revoke', async () => {
        if (!(await confirm(`Revoke “${k.name}”? Programs using it are refused from their next request.`, 'Revoke'))) return;
        await api(`/api/keys/${encodeURIComponent(k.id)}`, { method: 'DELETE' });
        toast(`Revoked ${k.name}`);
        refresh();
      }, { class: 'danger', 'aria-label': `Revoke ${k.name}` })));
}
