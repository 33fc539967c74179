// The app's shell: who is signed in, the navigation bar, and the hash router that loads each
// page's module when it is first visited (so the first load carries only this, the helpers
// and one page).

import { api, ApiError } from './api.js';
import { h, show, failure, field, loading, toast } from './ui.js';

// Every page, in the navigation bar's order. `admin` pages are hidden from other users; the
// server refuses their routes to them anyway (403), which is the protection.
const PAGES = [
  { path: 'conversations', label: 'Conversations' },
  { path: 'search', label: 'Search' },
  { path: 'chat', label: 'Chat' },
  { path: 'live', label: 'Live' },
  { path: 'upload', label: 'Upload', admin: true },
  { path: 'memories', label: 'Memories' },
  { path: 'documents', label: 'Documents' },
  { path: 'events', label: 'Events' },
  { path: 'plugins', label: 'Plugins', admin: true },
  { path: 'deliveries', label: 'Deliveries', admin: true },
  { path: 'users', label: 'Users', admin: true },
  { path: 'system', label: 'System' },
  { path: 'account', label: 'Account' },
];

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const menu = document.getElementById('menu');
const account = document.getElementById('account');
let user = null;
let leave = null; // what the current page does when left (close its streams)

/** `#/conversations/abc?q=milk` → {page: 'conversations', args: ['abc'], query}. */
function route() {
  const [path, query = ''] = location.hash.replace(/^#\/?/, '').split('?');
  const [page, ...args] = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { page: page || 'conversations', args, query: new URLSearchParams(query) };
}

/** Goes to `#/page…`; the same hash again re-renders it (a filter re-applied). */
export function go(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

async function render() {
  if (leave) { leave(); leave = null; }
  if (!user) return signIn();
  const { page, args, query } = route();
  const known = PAGES.find((p) => p.path === page && (!p.admin || user.is_admin));
  for (const link of nav.querySelectorAll('a')) {
    if (link.dataset.page === page) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  closeMenu();
  if (!known) {
    document.title = 'Not found · Chronicle';
    return show(main, h('h1', null, 'Not found'), failure(new ApiError(404, `there is no page “${page}” here`)));
  }
  document.title = `${known.label} · Chronicle`;
  show(main, loading());
  try {
    const module = await import(`./${page}.js`);
    const ctx = { user, args, query, go, main };
    leave = (await module.render(main, ctx)) || null;
  } catch (error) {
    show(main, failure(error));
  }
  // Land keyboard and screen-reader users on the new page's heading.
  main.querySelector('h1')?.focus({ preventScroll: true });
}

function drawNav() {
  const pages = user ? PAGES.filter((p) => !p.admin || user.is_admin) : [];
  show(nav, h('ul', null, pages.map((p) =>
    h('li', null, h('a', { href: `#/${p.path}`, 'data-page': p.path }, p.label)))));
  nav.hidden = !user;
  menu.hidden = !user;
  show(account, user && [
    h('span', { class: 'who', title: user.email }, user.email, user.is_admin ? ' (admin)' : ''),
    h('button', { type: 'button', onClick: signOut }, 'Sign out'),
  ]);
}

// Narrow screens: the bar collapses behind the Menu button (CSS shows the nav when open).
function closeMenu() {
  nav.classList.remove('open');
  menu.setAttribute('aria-expanded', 'false');
}
menu.addEventListener('click', () => {
  const open = nav.classList.toggle('open');
  menu.setAttribute('aria-expanded', String(open));
});
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && nav.classList.contains('open')) { closeMenu(); menu.focus(); }
});

function signIn(notice) {
  document.title = 'Sign in · Chronicle';
  const message = h('div', { 'aria-live': 'assertive' }, notice && h('p', { class: 'state empty' }, notice));
  const email = h('input', { type: 'email', name: 'username', autocomplete: 'username', required: true, autofocus: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', { class: 'signin card', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title', tabindex: '-1' }, 'Sign in to Chronicle'),
    field('Email', email), field('Password', password), message, submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    show(message);
    try {
      // A urlencoded form, as OAuth2's password login; the answer is a cookie, not a token.
      await api('/auth/cookie/login', {
        method: 'POST',
        body: new URLSearchParams({ username: email.value.trim(), password: password.value }),
      });
      await start();
    } catch (error) {
      const text = error.message === 'LOGIN_BAD_CREDENTIALS'
        ? 'Wrong email or password.' : error.message;
      show(message, h('p', { class: 'state error', role: 'alert' }, text));
      password.select();
    } finally {
      submit.disabled = false;
    }
  });
  show(main, form);
  email.focus();
}

async function signOut() {
  try { await api('/auth/cookie/logout', { method: 'POST' }); } catch (error) { toast(error.message, 'bad'); }
  user = null;
  drawNav();
  render();
}

/** Who is signed in (a 401 means nobody), then the page the address names. */
async function start() {
  try {
    user = await api('/api/users/me');
  } catch (error) {
    user = null;
    if (error.status !== 401) { drawNav(); return show(main, failure(error)); }
  }
  drawNav();
  render();
}

window.addEventListener('hashchange', render);
window.addEventListener('chronicle:signed-out', () => {
  if (!user) return;
  user = null;
  drawNav();
  if (leave) { leave(); leave = null; }
  signIn('Your session has ended; sign in again.');
});
start();
