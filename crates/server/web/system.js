// System: what runs — version, uptime, the providers and whether they answer now, the data
// folder's size and the counts. The server gives admins the figures of everyone (and the
// delivery queue and data folder); others see their own counts.

import { api } from './api.js';
import { h, show, load, title, chip, bytes, duration, action } from './ui.js';

export function render(main) {
  const results = h('section', { 'aria-label': 'System' });
  const refresh = () => load(results, () => api('/api/system'), view);
  show(main, title('System', action('Refresh', refresh)), results);
  refresh();
}

function view(s) {
  const counts = s.counts || {};
  const deliveries = counts.deliveries;
  return [
    h('div', { class: 'cards tiles' },
      tile('Version', s.version),
      tile('Uptime', duration(s.uptime_seconds)),
      tile('Live sessions', s.live_sessions),
      tile('Conversations', counts.conversations, counts.open_conversations ? `${counts.open_conversations} open` : null),
      tile('Memories', counts.memories),
      s.data_folder_bytes != null && tile('Data folder', bytes(s.data_folder_bytes))),
    h('h2', null, 'Providers'),
    h('ul', { class: 'cards' }, provider('Transcription', s.transcription), provider('Language model', s.llm)),
    deliveries && [h('h2', null, 'Deliveries'),
      h('p', { class: 'row' }, Object.entries(deliveries).map(([status, n]) => chip(`${status}: ${n}`, status)),
        h('a', { href: '#/deliveries' }, 'Open the queue'))],
  ];
}

const tile = (label, value, note) => h('div', { class: 'card tile' },
  h('span', { class: 'meta' }, label), h('strong', null, value ?? '—'), note && h('small', null, note));

/** A provider with whether it accepted a connection just now, and what was seen. */
function provider(label, p) {
  const configured = p && p.provider;
  return h('li', { class: 'card' },
    h('div', { class: 'row between' }, h('strong', null, label),
      chip(!configured ? 'not configured' : p.ok ? 'answers' : 'unreachable', !configured ? 'skipped' : p.ok ? 'ok' : 'dead')),
    configured && h('p', null, h('code', null, p.provider), p.model ? [' · model ', h('code', null, p.model)] : ''),
    p?.message && h('p', { class: 'meta' }, p.message));
}
