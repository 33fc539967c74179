// Documents: what plugins stored through the `database` service — the guide's "verify the
// todos in the database" step. Everyone sees the documents that name them as `user_id`;
// admins see every document. One collection is read a page at a time, never whole.

import { api, search } from './api.js';
import { h, show, load, empty, title, json, pager } from './ui.js';

const PAGE = 25;

export function render(main, ctx) {
  const [plugin, collection] = ctx.args;
  return plugin && collection ? page(main, ctx, plugin, collection) : collections(main, ctx);
}

function collections(main, { user }) {
  const results = h('section', { 'aria-label': 'Collections' });
  show(main, title('Documents'),
    h('p', { class: 'lead' }, user.is_admin
      ? 'What plugins keep in their document stores, for every user.'
      : 'What plugins keep about you in their document stores.'),
    results);
  load(results, () => api('/api/plugins/documents'), ({ collections: all }) => all.length
    ? h('ul', { class: 'cards tiles' }, all.map((c) => h('li', { class: 'card' },
      h('a', { class: 'name', href: `#/documents/${encodeURIComponent(c.plugin_id)}/${encodeURIComponent(c.collection)}` },
        c.collection),
      h('p', { class: 'meta' }, h('code', null, c.plugin_id), ' · ',
        `${c.count} document${c.count === 1 ? '' : 's'}`))))
    : empty('No documents yet: plugins such as todo_extractor store them as conversations end.'));
}

function page(main, { query, go }, plugin, collection) {
  const offset = Number(query.get('offset')) || 0;
  const base = `#/documents/${encodeURIComponent(plugin)}/${encodeURIComponent(collection)}`;
  const results = h('section', { 'aria-label': `Documents in ${collection}` });
  show(main, h('p', null, h('a', { href: '#/documents' }, '← All collections')),
    title(collection), h('p', { class: 'meta' }, 'Stored by ', h('code', null, plugin)), results);
  load(results, () => api(`/api/plugins/${encodeURIComponent(plugin)}/documents/${encodeURIComponent(collection)}`,
    { query: { limit: PAGE, offset } }), (answer) => answer.documents.length
    ? [h('ol', { class: 'documents', start: String(offset + 1) }, answer.documents.map(documentItem)),
      pager(offset, PAGE, answer.total, (next) => go(`${base}${search({ offset: next })}`))]
    : empty('This collection holds no documents you may see.'));
}

/** A document: its text fields as a short summary line, the whole of it as JSON below. */
function documentItem(doc) {
  const main = ['text', 'title', 'task', 'content', 'name', 'message']
    .find((key) => typeof doc[key] === 'string' && doc[key]);
  // A few short fields beside it (a status, a time), so a list can be read without opening each.
  const short = Object.entries(doc).filter(([key, value]) => key !== main && key !== 'user_id'
    && ['string', 'number', 'boolean'].includes(typeof value) && String(value).length <= 40).slice(0, 4);
  return h('li', { class: 'card' },
    main && h('p', { class: 'memory-text' }, doc[main]),
    short.length > 0 && h('p', { class: 'meta' }, short.map(([key, value]) => `${key}: ${value}`).join(' · ')),
    h('details', { open: !main }, h('summary', null, 'All fields'), json(doc)));
}
