// Live: my devices' sessions, and what they hear as it arrives over /api/live/stream — the
// interim transcript in a lighter style, replaced by the final one, and button presses.

import { api, stream } from './api.js';
import { h, show, load, empty, title, chip, when, duration, table } from './ui.js';

/** Lines the feed keeps; older ones are in the conversation's transcript. */
const KEEP = 500;

export function render(main) {
  const status = h('span', { class: 'chip', role: 'status' }, 'connecting');
  const sessions = h('div');
  // Finals and presses are appended; each device has one interim line, at the end.
  const feed = h('ol', { class: 'feed', 'aria-label': 'Live transcript', 'aria-live': 'polite' });
  const note = empty('Nothing yet: start streaming from a device and its words appear here.');
  const interims = new Map();
  show(main, title('Live', status),
    h('section', null, h('h2', null, 'Transcript'), note, feed),
    h('section', null, h('h2', null, 'Sessions'), sessions));

  const refresh = () => load(sessions, () => api('/api/sessions', { query: { limit: 20 } }),
    (answer) => answer.sessions.length ? sessionTable(answer.sessions) : empty('No sessions yet.'));
  refresh();

  const add = (item) => {
    note.remove();
    feed.append(item);
    for (const line of interims.values()) if (line !== item) feed.append(line); // interims stay last
    // A day-long session must not grow the page without end: the conversation keeps it all.
    while (feed.children.length > KEEP) feed.firstElementChild.remove();
    item.scrollIntoView({ block: 'nearest' });
  };
  const device = (d) => h('span', { class: 'device' }, d.client_id);
  // When the page heard it: the stream carries audio time, not the wall clock.
  const at = () => h('time', { class: 'at' }, new Date().toLocaleTimeString());
  const interim = (d) => {
    let line = interims.get(d.client_id);
    if (!line) {
      line = h('li', { class: 'interim' });
      interims.set(d.client_id, line);
    }
    show(line, device(d), ' ', d.text);
    if (!line.isConnected) add(line);
  };
  const final = (d) => {
    interims.get(d.client_id)?.remove();
    interims.delete(d.client_id);
    if (d.text) add(h('li', { class: 'final' }, at(), device(d), ' ', d.text));
  };
  return stream('/api/live/stream', {
    interim,
    final,
    button: (d) => add(h('li', { class: 'press' }, at(), device(d), ' button: ', h('strong', null, d.state.replaceAll('_', ' ').toLowerCase()))),
    session: (d) => {
      add(h('li', { class: 'session' }, at(), device(d), ` session ${d.state}`, d.end_reason ? ` (${d.end_reason.replaceAll('_', ' ')})` : ''));
      refresh();
    },
    missed: (d) => add(h('li', { class: 'session' }, `${d.updates} updates missed (this page fell behind)`)),
  }, (state) => { status.textContent = state; status.className = `chip ${state}`; });
}

function sessionTable(rows) {
  return table(['Device', 'Started', 'State', 'Audio'], rows.map((s) => ({
    cells: [s.client_id, when(s.started_at),
      s.ended_at ? `ended ${when(s.ended_at)}${s.end_reason ? ` (${s.end_reason.replaceAll('_', ' ')})` : ''}` : chip('open', 'live'),
      duration(s.audio_seconds)],
  })));
}
