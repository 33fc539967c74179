// Conversations: a server-side page of the list with its filters in the address (so Back and
// a reload keep them), and one conversation with its audio, transcript, memories and what
// plugins did with it.

import { api, search } from './api.js';
import { h, show, load, loading, empty, failure, title, field, action, confirm, toast, chip,
  when, duration, clock, pager } from './ui.js';
import { recordList } from './events.js';
import { deliveryTable } from './deliveries.js';

const PAGE = 20;

export function render(main, ctx) {
  return ctx.args[0] ? detail(main, ctx, ctx.args[0]) : list(main, ctx);
}

function list(main, { query, go }) {
  const filters = {
    q: query.get('q') || '',
    starred: query.get('starred') === 'true',
    since: query.get('since') || '',
    until: query.get('until') || '',
  };
  const offset = Number(query.get('offset')) || 0;
  const hash = (changes) => `#/conversations${search({ ...filters, offset, ...changes })}`;

  const q = h('input', { type: 'search', name: 'q', value: filters.q, placeholder: 'Words to find' });
  const starred = h('input', { type: 'checkbox', name: 'starred', checked: filters.starred });
  const since = h('input', { type: 'date', name: 'since', value: filters.since });
  const until = h('input', { type: 'date', name: 'until', value: filters.until });
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter conversations' },
    field('Search', q), field('From', since), field('To', until),
    h('label', { class: 'check' }, starred, ' Starred only'),
    h('div', { class: 'row' },
      h('button', { type: 'submit', class: 'primary' }, 'Apply'),
      h('a', { class: 'button', href: '#/conversations' }, 'Clear')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    go(`#/conversations${search({ q: q.value.trim(), starred: starred.checked && 'true', since: since.value, until: until.value })}`);
  });

  const results = h('section', { 'aria-label': 'Conversations', 'aria-busy': 'true' });
  show(main, title('Conversations'), form, results);
  const filtered = filters.q || filters.starred || filters.since || filters.until;
  load(results, () => api('/api/conversations', {
    query: { limit: PAGE, offset, view: 'summary', q: filters.q, starred: filters.starred && 'true', since: filters.since, until: filters.until },
  }), (page) => {
    results.removeAttribute('aria-busy');
    if (!page.conversations.length) {
      return empty(filtered ? 'No conversation matches these filters.'
        : 'No conversations yet: upload audio or connect a device, and they appear here.');
    }
    return [
      h('ul', { class: 'cards' }, page.conversations.map(card)),
      pager(offset, PAGE, page.total, (next) => go(hash({ offset: next }))),
    ];
  });
}

function card(c) {
  return h('li', { class: 'card conversation' },
    h('div', { class: 'row between' },
      h('a', { href: `#/conversations/${encodeURIComponent(c.conversation_id)}`, class: 'name' }, c.title || 'Untitled'),
      c.starred && h('span', { class: 'star', title: 'Starred', 'aria-label': 'Starred' }, '★')),
    h('p', { class: 'meta' }, when(c.created_at), ' · ', duration(c.duration_seconds), ' · ',
      c.end_reason ? c.end_reason.replaceAll('_', ' ') : chip('open')),
    c.snippet && h('p', { class: 'snippet' }, c.snippet),
    c.transcription_error && h('p', { class: 'bad' }, 'Transcription failed: ', c.transcription_error));
}

async function detail(main, { user, go }, id) {
  const path = `/api/conversations/${encodeURIComponent(id)}`;
  let conversation;
  try {
    conversation = (await api(path)).conversation;
  } catch (error) {
    return show(main, title('Conversation'), failure(error), h('p', null, h('a', { href: '#/conversations' }, '← All conversations')));
  }
  const c = conversation;
  const open = !c.end_reason;
  const audio = c.has_audio && h('audio', { controls: true, preload: 'metadata', src: `${path}/audio`, 'aria-label': 'Recording' });

  const star = h('button', { type: 'button', class: 'star-button', 'aria-pressed': String(c.starred) });
  const drawStar = (on) => {
    star.setAttribute('aria-pressed', String(on));
    star.textContent = on ? '★ Starred' : '☆ Star';
  };
  drawStar(c.starred);
  star.addEventListener('click', async () => {
    star.disabled = true;
    try {
      const answer = await api(`${path}/star`, { method: 'POST' });
      drawStar(answer.starred);
      toast(answer.starred ? 'Starred' : 'Star removed');
    } catch (error) { toast(error.message, 'bad'); } finally { star.disabled = false; }
  });

  const actions = h('div', { class: 'row' }, star,
    // Closing acts on the device's open conversation, so it is addressed by the device.
    open && action('Close conversation', async () => {
      const answer = await api(`/api/conversations/${encodeURIComponent(c.client_id)}/close`, { method: 'POST' });
      toast(answer.message);
      go(`#/conversations/${encodeURIComponent(id)}`);
    }),
    action('Delete', async () => {
      if (!(await confirm(`Delete “${c.title || 'this conversation'}” and its recording? This cannot be undone.`))) return;
      await api(path, { method: 'DELETE' });
      toast('Conversation deleted');
      go('#/conversations');
    }, { class: 'danger' }));

  const memories = h('div', null, loading());
  const events = h('div', null, loading());
  const deliveries = user.is_admin && h('div', null, loading());
  show(main,
    h('p', null, h('a', { href: '#/conversations' }, '← All conversations')),
    title(c.title || 'Untitled'),
    h('p', { class: 'meta' }, when(c.created_at), ' · ', duration(c.duration_seconds), ' · ',
      open ? chip('open') : `ended: ${c.end_reason.replaceAll('_', ' ')}`, ' · device ', h('code', null, c.client_id)),
    actions,
    c.transcription_error && failure(new Error(`transcription failed: ${c.transcription_error}`)),
    c.summary && h('section', null, h('h2', null, 'Summary'), h('p', null, c.summary)),
    h('section', null, h('h2', null, 'Recording'), audio || empty('No recording kept for this conversation.')),
    h('section', null, h('h2', null, 'Transcript'), transcript(c, audio)),
    h('section', null, h('h2', null, 'Memories'), memories),
    h('section', null, h('h2', null, 'What plugins did'), events),
    deliveries && h('section', null, h('h2', null, 'Deliveries'), deliveries));

  load(memories, () => api(`${path}/memories`), (answer) => answer.memories.length
    ? h('ul', { class: 'plain' }, answer.memories.map((m) => h('li', null, m.content)))
    : empty('No memories from this conversation.'));
  load(events, () => api('/api/events', { query: { conversation_id: id, limit: 50 } }),
    (answer) => answer.events.length ? recordList(answer.events) : empty('No plugin saw this conversation yet.'));
  if (deliveries) {
    const refresh = () => load(deliveries, () => api('/api/admin/deliveries', { query: { conversation_id: id } }),
      (answer) => answer.deliveries.length ? deliveryTable(answer.deliveries, refresh) : empty('No deliveries for this conversation.'));
    refresh();
  }
}

/** `SPEAKER_00` → `Speaker 1`; a name given by diarization stays as it is. */
const speaker = (name) => {
  const number = /^SPEAKER_(\d+)$/.exec(name);
  return number ? `Speaker ${Number(number[1]) + 1}` : name;
};

/** Segments with their times; a time is a button that plays the recording from there. */
function transcript(c, audio) {
  if (!c.segments?.length) {
    return c.transcript ? h('p', null, c.transcript) : empty(c.end_reason ? 'No words were heard.' : 'Nothing transcribed yet.');
  }
  return h('ol', { class: 'segments' }, c.segments.map((s) => h('li', null,
    audio ? h('button', {
      type: 'button', class: 'time', 'aria-label': `Play from ${clock(s.start)}`,
      onClick: () => { audio.currentTime = s.start; audio.play().catch(() => {}); },
    }, clock(s.start)) : h('span', { class: 'time' }, clock(s.start)),
    h('p', null, s.speaker && h('span', { class: 'speaker' }, speaker(s.speaker)), s.text))));
}
