// Deliveries (admins): each (event, plugin) delivery of the durable queue with its attempts,
// last error and next try; replay one, or every dead letter. The page refreshes itself while
// some delivery is still on its way, so a replay is seen to end.

import { api, search } from './api.js';
import { h, show, loading, failure, empty, title, field, action, chip, toast, when, table, td } from './ui.js';

const STATUSES = ['pending', 'running', 'failed', 'dead', 'succeeded', 'declined'];

export function render(main, { query, go }) {
  const status = query.get('status') || '';
  const select = h('select', { name: 'status' },
    h('option', { value: '' }, 'Every status'),
    h('option', { value: 'pending,failed,dead', selected: status === 'pending,failed,dead' }, 'Needing attention'),
    STATUSES.map((s) => h('option', { value: s, selected: s === status }, s)));
  select.addEventListener('change', () => go(`#/deliveries${search({ status: select.value })}`));
  const counts = h('p', { class: 'row', 'aria-label': 'Deliveries by status' });
  const results = h('section', { 'aria-label': 'Deliveries' });
  const replayDead = action('Replay all dead', async () => {
    const answer = await api('/api/admin/deliveries/replay-dead', { method: 'POST' });
    toast(`Replayed ${answer.replayed.length} dead deliver${answer.replayed.length === 1 ? 'y' : 'ies'}`);
    refresh(true);
  });
  show(main, title('Deliveries', replayDead),
    h('div', { class: 'filters' }, field('Show', select)), counts, results);

  let timer = null;
  let left = false;
  // A refresh replaces the table in place; only the first shows "Loading…".
  const refresh = async (quiet) => {
    clearTimeout(timer);
    if (!quiet) show(results, loading());
    try {
      const answer = await api('/api/admin/deliveries', { query: { status, limit: 200 } });
      if (left) return;
      show(counts, STATUSES.map((s) => chip(`${s}: ${answer.counts[s] || 0}`, s)));
      replayDead.disabled = !answer.counts.dead;
      if (answer.deliveries.some((d) => d.status === 'pending' || d.status === 'running')) {
        timer = setTimeout(() => refresh(true), 1500);
      }
      show(results, answer.deliveries.length ? deliveryTable(answer.deliveries, () => refresh(true))
        : empty(status ? 'No delivery has this status.' : 'No deliveries yet: events queued for plugins show here.'));
    } catch (error) {
      show(results, failure(error));
    }
  };
  refresh();
  return () => { left = true; clearTimeout(timer); };
}

/** A table of deliveries with a Replay button on each that is not running. */
export function deliveryTable(rows, refresh) {
  return table(['Id', 'Event', 'Plugin', 'Status', 'Attempts', 'Last error', 'Next try', 'Updated', ''], rows.map((d) => ({
    'data-id': d.id,
    cells: [d.id, d.event, d.plugin_id, td(chip(d.status), 'status'), d.attempt,
      d.last_error ? td(d.last_error, 'error-text') : '—',
      d.next_attempt_ms && (d.status === 'pending' || d.status === 'failed') ? when(d.next_attempt_ms) : '—',
      when(d.updated_ms),
      d.status !== 'running' && action('Replay', async () => {
        await api(`/api/admin/deliveries/${d.id}/replay`, { method: 'POST' });
        toast(`Delivery ${d.id} replayed`);
        refresh();
      }, { 'aria-label': `Replay delivery ${d.id}` })],
  })), { class: 'deliveries' });
}
