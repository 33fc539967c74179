// The event log: every dispatch of an event to the plugins, newest first, filtered by event,
// plugin and outcome on the server, and live from /api/events/stream. Each record opens to
// what each plugin did, how long it took, the metadata and the service calls.

import { api, search, stream } from './api.js';
import { h, show, load, empty, title, field, chip, json, when, table } from './ui.js';

export const EVENTS = ['transcript.streaming', 'transcript.batch', 'conversation.complete',
  'conversation.starred', 'memory.processed', 'button.single_press', 'button.double_press',
  'button.long_press', 'plugin_action', 'wake_word.detected'];
const OUTCOMES = ['executed', 'declined', 'skipped', 'failed', 'timed_out'];
/** Records the page shows at most, the first page and live ones together. */
const KEEP = 200;

export function render(main, { query, go }) {
  const filters = { event_type: query.get('event_type') || '', plugin_id: query.get('plugin_id') || '', outcome: query.get('outcome') || '' };
  const event = h('select', { name: 'event_type' }, h('option', { value: '' }, 'Any event'),
    EVENTS.map((e) => h('option', { value: e, selected: e === filters.event_type }, e)));
  const plugin = h('input', { name: 'plugin_id', value: filters.plugin_id, placeholder: 'plugin id' });
  const outcome = h('select', { name: 'outcome' }, h('option', { value: '' }, 'Any outcome'),
    OUTCOMES.map((o) => h('option', { value: o, selected: o === filters.outcome }, o.replace('_', ' '))));
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter events' },
    field('Event', event), field('Plugin', plugin), field('Outcome', outcome),
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Apply'),
      h('a', { class: 'button', href: '#/events' }, 'Clear')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    go(`#/events${search({ event_type: event.value, plugin_id: plugin.value.trim(), outcome: outcome.value })}`);
  });
  const status = h('span', { class: 'chip', role: 'status' }, 'connecting');
  const results = h('section', { 'aria-label': 'Events' });
  show(main, title('Events', status), form, results);

  let list = null;
  load(results, () => api('/api/events', { query: { limit: 50, ...filters } }), (answer) => {
    list = recordList(answer.events);
    return answer.events.length ? list : [empty('No events yet: they appear here as they happen.'), list];
  });
  // New records arrive live; those the filters leave out are not shown.
  const matches = (r) => (!filters.event_type || r.event === filters.event_type)
    && (!filters.plugin_id && !filters.outcome || (r.plugins || []).some((p) =>
      (!filters.plugin_id || p.plugin_id === filters.plugin_id) && (!filters.outcome || p.status === filters.outcome)));
  return stream('/api/events/stream', {
    'plugin.event': (record) => {
      if (!list || !matches(record)) return;
      list.prepend(recordItem(record, true));
      // A busy log must not grow the page without end: older records stay in the log.
      while (list.children.length > KEEP) list.lastElementChild.remove();
      results.querySelector('.state.empty')?.remove(); // the "no events yet" note
    },
  }, (state) => { status.textContent = state; status.className = `chip ${state}`; });
}

/** Records as a list of expandable items (also on a conversation's page). */
export function recordList(records) {
  const list = h('ol', { class: 'records', 'aria-label': 'Event records' }, records.map((r) => recordItem(r)));
  return list;
}

function recordItem(r, fresh) {
  const plugins = r.plugins || [];
  return h('li', { class: fresh ? 'fresh' : null }, h('details', null,
    h('summary', null,
      h('span', { class: 'event' }, r.event), ' ',
      h('span', { class: 'meta' }, when(r.timestamp), r.duration_ms != null && ` · ${r.duration_ms.toFixed(1)} ms`), ' ',
      plugins.map((p) => chip(`${p.plugin_id}: ${p.status.replace('_', ' ')}`, p.status))),
    plugins.length ? table(['Plugin', 'Outcome', 'Duration', 'Message'], plugins.map((p) => ({
      cells: [p.plugin_id, chip(p.status.replace('_', ' '), p.status), `${(p.duration_ms || 0).toFixed(1)} ms`,
        p.result?.message || p.reason || (p.result ? (p.result.success ? 'success' : 'unsuccessful') : '—')],
    })), { caption: 'Plugins, in chain order' }) : empty('No plugin is subscribed to this event.'),
    r.metadata && Object.keys(r.metadata).length > 0 && [h('h3', null, 'Metadata'), json(r.metadata)],
    r.services?.length > 0 && table(['Plugin', 'Call', 'Arguments', 'Allowed'], r.services.map((s) => ({
      cells: [s.plugin_id, h('code', { class: 'call' }, s.call), json(s.args),
        s.allowed ? chip('allowed', 'executed') : chip('refused', 'failed')],
    })), { caption: 'Service calls' }),
    r.conversation_id && h('p', null, h('a', { href: `#/conversations/${encodeURIComponent(r.conversation_id)}` }, 'Open the conversation'))));
}
