// Search: everything said and remembered, ranked by words and (with an embeddings server) by
// meaning: each hit with its kind, time, speaker, what found it and a snippet whose matched
// words are marked, linked to its conversation. A time in the words ("yesterday", "last
// Tuesday") is read in the browser's time zone.

import { api, search } from './api.js';
import { h, show, load, empty, title, field, chip, when, clock } from './ui.js';

const KINDS = [['', 'Everything'], ['conversation', 'What was said'], ['memory', 'Memories']];

export function render(main, { query, go }) {
  const filters = { q: query.get('q') || '', kind: query.get('kind') || '', since: query.get('since') || '', until: query.get('until') || '' };
  const q = h('input', { type: 'search', name: 'q', value: filters.q, placeholder: 'Words you said, or “what did I say yesterday?”', required: true });
  const kind = h('select', { name: 'kind' }, KINDS.map(([value, label]) => h('option', { value, selected: value === filters.kind }, label)));
  const since = h('input', { type: 'date', name: 'since', value: filters.since });
  const until = h('input', { type: 'date', name: 'until', value: filters.until });
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Search everything' },
    field('Search', q), field('In', kind), field('From', since), field('To', until),
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Search')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    go(`#/search${search({ q: q.value.trim(), kind: kind.value, since: since.value, until: until.value })}`);
  });
  const results = h('section', { 'aria-label': 'Search results' });
  show(main, title('Search'), form, results);
  if (!filters.q) {
    show(results, empty('Type a few words you remember saying.'));
    return;
  }
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || '';
  load(results, () => api('/api/search', { query: { q: filters.q, kind: filters.kind, since: filters.since, until: filters.until, tz, limit: 50 } }),
    (answer) => [
      h('p', { class: 'muted', role: 'status' }, how(answer)),
      answer.hits.length
        ? h('ol', { class: 'cards hits' }, answer.hits.map(hit))
        : empty('Nothing matches these words.'),
    ]);
}

/** One line on how the search was made: the time it read, and by words, meaning or time. */
function how(answer) {
  const by = { rrf: 'By words and meaning', bm25: 'By words', time: 'Everything from then, newest first' }[answer.ranking] || answer.ranking;
  const time = answer.time_filter ? ` · “${answer.time_filter.phrase}” read as a time (${answer.time_filter.time_zone})` : '';
  const alone = answer.ranking === 'bm25' && /:/.test(answer.note) ? ` (${answer.note.split(': ').slice(1).join(': ')})` : '';
  return `${by}${alone}${time}`;
}

function hit(found) {
  const link = found.conversation_id && `#/conversations/${encodeURIComponent(found.conversation_id)}`;
  return h('li', { class: 'card hit' },
    h('p', { class: 'snippet' }, marked(found.snippet)),
    h('p', { class: 'meta' },
      chip(found.kind === 'memory' ? 'memory' : 'said', 'open'), ' ', when(found.time),
      found.matched_by === 'meaning' && [' · ', chip('by meaning', 'open')],
      found.offset_seconds != null && [' · at ', clock(found.offset_seconds)],
      found.speaker && [' · ', found.speaker],
      link && [' · ', h('a', { href: link }, 'open the conversation')]));
}

/**
 * The server's snippet is HTML-escaped text with the matches in `<mark>`; it is rebuilt here
 * as text nodes and `mark` elements, never parsed as HTML.
 */
function marked(snippet) {
  const text = (part) => part.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');
  return snippet.split(/(<mark>.*?<\/mark>)/).filter(Boolean).map((part) => {
    const match = /^<mark>(.*)<\/mark>$/.exec(part);
    return match ? h('mark', null, text(match[1])) : text(part);
  });
}
