// Users (admins): the accounts — add one, reset a password, make or unmake an admin,
// deactivate (which signs the user out everywhere) or reactivate. The server refuses an
// admin's demoting or deactivating themself; the page does not offer it either.

import { api } from './api.js';
import { h, show, load, empty, title, field, action, confirm, toast, chip, when } from './ui.js';

export function render(main, { user: me }) {
  const results = h('section', { 'aria-label': 'Users' });
  const refresh = () => load(results, () => api('/api/admin/users'), ({ users }) => users.length
    ? h('ul', { class: 'cards' }, users.map((u) => account(u, me, refresh)))
    : empty('No users yet.'));
  show(main, title('Users'), addForm(refresh), results);
  refresh();
}

function addForm(refresh) {
  const email = h('input', { type: 'email', name: 'email', required: true, autocomplete: 'off' });
  const password = h('input', { type: 'password', name: 'password', required: true, minlength: '12', autocomplete: 'new-password' });
  const admin = h('input', { type: 'checkbox', name: 'is_admin' });
  const form = h('form', { class: 'card add filters', 'aria-labelledby': 'add-user' },
    h('h2', { id: 'add-user', class: 'span' }, 'Add a user'),
    field('Email', email), field('Password', password, 'at least 12 characters'),
    h('label', { class: 'check' }, admin, ' Admin'),
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Add user')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const created = await api('/api/admin/users', {
        method: 'POST', json: { email: email.value.trim(), password: password.value, is_admin: admin.checked },
      });
      toast(`Added ${created.email}`);
      form.reset();
      refresh();
    } catch (error) { toast(error.message, 'bad'); }
  });
  return form;
}

function account(u, me, refresh) {
  const self = u.id === me.id;
  const change = async (body, done) => {
    await api(`/api/admin/users/${encodeURIComponent(u.id)}`, { method: 'PATCH', json: body });
    toast(done);
    refresh();
  };
  const reset = h('div');
  const item = h('li', { class: 'card user' },
    h('div', { class: 'row between' },
      h('strong', { class: 'name' }, u.email),
      h('span', { class: 'row' }, u.is_admin && chip('admin', 'open'), chip(u.is_active ? 'active' : 'deactivated', u.is_active ? 'ok' : 'dead'))),
    h('p', { class: 'meta' }, 'Since ', when(u.created_at), self ? ' · you' : ''),
    h('div', { class: 'row' },
      h('button', { type: 'button', onClick: () => resetForm(reset, u, change), 'aria-label': `Reset the password of ${u.email}` }, 'Reset password'),
      !self && action(u.is_admin ? 'Remove admin' : 'Make admin',
        () => change({ is_admin: !u.is_admin }, `${u.email} is ${u.is_admin ? 'no longer' : 'now'} an admin`),
        { 'aria-label': `${u.is_admin ? 'Remove admin rights of' : 'Make admin'} ${u.email}` }),
      !self && action(u.is_active ? 'Deactivate' : 'Reactivate', async () => {
        if (u.is_active && !(await confirm(`Deactivate ${u.email}? They are signed out everywhere and cannot sign in until reactivated.`, 'Deactivate'))) return;
        await change({ is_active: !u.is_active }, `${u.email} ${u.is_active ? 'deactivated' : 'reactivated'}`);
      }, { class: u.is_active ? 'danger' : null, 'aria-label': `${u.is_active ? 'Deactivate' : 'Reactivate'} ${u.email}` })),
    reset);
  return item;
}

function resetForm(root, u, change) {
  const password = h('input', { type: 'password', required: true, minlength: '12', autocomplete: 'new-password' });
  const form = h('form', { class: 'inline', 'aria-label': `New password for ${u.email}` },
    field('New password', password, 'at least 12 characters'),
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Set password'),
      h('button', { type: 'button', onClick: () => show(root) }, 'Cancel')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try { await change({ password: password.value }, `New password set for ${u.email}`); } catch (error) { toast(error.message, 'bad'); }
  });
  show(root, form);
  password.focus();
}
