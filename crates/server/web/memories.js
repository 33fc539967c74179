// Memories: the facts drawn from conversations (and those added by hand) — list, search, edit
// the text, delete, add one.

import { api, search } from './api.js';
import { h, show, load, empty, title, field, action, confirm, toast, when, pager } from './ui.js';

const PAGE = 50;

export function render(main, { query, go }) {
  const words = query.get('query') || '';
  const offset = Number(query.get('offset')) || 0;
  const q = h('input', { type: 'search', name: 'query', value: words, placeholder: 'Words in a memory' });
  const find = h('form', { class: 'filters', role: 'search', 'aria-label': 'Search memories' },
    field('Search', q), h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Search'),
      h('a', { class: 'button', href: '#/memories' }, 'Clear')));
  find.addEventListener('submit', (e) => { e.preventDefault(); go(`#/memories${search({ query: q.value.trim() })}`); });

  const content = h('textarea', { name: 'content', rows: '2', required: true, placeholder: 'Something to remember' });
  const add = h('form', { class: 'card add', 'aria-label': 'Add a memory' },
    field('New memory', content), h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Add memory')));
  add.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await api('/api/memories', { method: 'POST', json: { content: content.value } });
      content.value = '';
      toast('Memory added');
      go('#/memories');
    } catch (error) { toast(error.message, 'bad'); }
  });

  const results = h('section', { 'aria-label': 'Memories' });
  show(main, title('Memories'), add, find, results);
  const refresh = () => load(results,
    () => words ? api('/api/memories/search', { query: { query: words, limit: PAGE, offset } }) : api('/api/memories', { query: { limit: PAGE, offset } }),
    (answer) => answer.memories.length ? [
      h('ul', { class: 'cards' }, answer.memories.map((m) => memory(m, refresh))),
      pager(offset, PAGE, answer.total, (next) => go(`#/memories${search({ query: words, offset: next })}`)),
    ] : empty(words ? 'No memory has these words.' : 'No memories yet: they are drawn from conversations, or added above.'));
  refresh();
}

function memory(m, refresh) {
  const text = h('p', { class: 'memory-text' }, m.content);
  const item = h('li', { class: 'card' });
  const view = () => show(item, text,
    h('div', { class: 'row between' },
      h('span', { class: 'meta' }, when(m.created_at),
        m.conversation_id && [' · ', h('a', { href: `#/conversations/${encodeURIComponent(m.conversation_id)}` }, 'from a conversation')]),
      h('span', { class: 'row' },
        h('button', { type: 'button', onClick: edit, 'aria-label': `Edit memory: ${m.content}` }, 'Edit'),
        action('Delete', async () => {
          if (!(await confirm(`Delete the memory “${m.content}”?`))) return;
          await api(`/api/memories/${encodeURIComponent(m.memory_id)}`, { method: 'DELETE' });
          toast('Memory deleted');
          refresh();
        }, { class: 'danger', 'aria-label': `Delete memory: ${m.content}` }))));
  function edit() {
    const area = h('textarea', { rows: '3', value: m.content });
    const form = h('form', { 'aria-label': 'Edit memory' }, field('Memory', area),
      h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Save'),
        h('button', { type: 'button', onClick: view }, 'Cancel')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        const answer = await api(`/api/memories/${encodeURIComponent(m.memory_id)}`, { method: 'PATCH', json: { content: area.value } });
        Object.assign(m, answer.memory);
        text.textContent = m.content;
        toast('Memory saved');
        view();
      } catch (error) { toast(error.message, 'bad'); }
    });
    show(item, form);
    area.focus();
  }
  view();
  return item;
}
