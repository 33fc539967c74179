// Chat: ask your memories. The sessions are listed beside the one open; an answer streams in
// as the server sends it (server-sent events over a POST, read from the response body), shows
// each tool the model used, and ends with its sources, each linked to its conversation.

import { api, ApiError, detailOf } from './api.js';
import { h, show, load, empty, title, when, clock, failure } from './ui.js';

export function render(main, { args, go }) {
  const [id] = args;
  const sessions = h('nav', { class: 'chat-sessions', 'aria-label': 'Chat sessions' });
  const pane = h('section', { class: 'chat-pane', 'aria-label': 'Chat' });
  const start = h('button', { type: 'button', class: 'primary' }, 'New chat');
  start.addEventListener('click', async () => {
    start.disabled = true;
    try {
      const { session } = await api('/api/chat/sessions', { method: 'POST', json: {} });
      go(`#/chat/${encodeURIComponent(session.session_id)}`);
    } catch (error) {
      show(pane, failure(error));
    } finally {
      start.disabled = false;
    }
  });
  show(main, title('Chat', start), h('div', { class: 'chat' }, sessions, pane));
  const list = () => load(sessions, () => api('/api/chat/sessions'), ({ sessions: all }) => all.length
    ? h('ul', null, all.map((s) => h('li', null,
      h('a', { href: `#/chat/${encodeURIComponent(s.session_id)}`, 'aria-current': s.session_id === id ? 'page' : null },
        s.title || 'New chat'), h('small', null, when(s.updated_at)))))
    : empty('No chats yet.'));
  list();
  if (!id) {
    show(pane, empty('Start a new chat to ask your memories, e.g. “What did I promise Anna?”'));
    return;
  }
  const controller = new AbortController();
  load(pane, () => api(`/api/chat/sessions/${encodeURIComponent(id)}`), ({ messages }) => conversation(id, messages, controller, list));
  return () => controller.abort();
}

function conversation(id, messages, controller, answered) {
  const log = h('ol', { class: 'chat-log', 'aria-live': 'polite' }, messages.map(message));
  const question = h('textarea', { name: 'question', rows: 2, required: true, 'aria-label': 'Question', placeholder: 'Ask about what you said, e.g. “what did I discuss yesterday?”' });
  const send = h('button', { type: 'submit', class: 'primary' }, 'Ask');
  const form = h('form', { class: 'chat-ask', 'aria-label': 'Ask a question' }, question, send);
  question.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const content = question.value.trim();
    if (!content) return;
    question.value = '';
    send.disabled = true;
    log.append(message({ role: 'user', content, sources: [] }));
    const answer = message({ role: 'assistant', content: '', sources: [] });
    answer.classList.add('streaming');
    log.append(answer);
    try {
      await stream(id, content, answer, controller.signal);
      answered(); // the first question names the session
    } catch (error) {
      if (error.name !== 'AbortError') answer.append(failure(error));
    } finally {
      answer.classList.remove('streaming');
      send.disabled = false;
      question.focus();
    }
  });
  return [log, form];
}

/** One message: its words (citations `[n]` as links to the sources below) and its sources. */
function message({ role, content, sources }) {
  const text = h('div', { class: 'chat-text' });
  const item = h('li', { class: `chat-message ${role}` },
    h('p', { class: 'chat-who' }, role === 'user' ? 'You' : 'Chronicle'), text,
    h('div', { class: 'chat-tools' }), h('ol', { class: 'chat-sources', 'aria-label': 'Sources' }));
  setText(item, content);
  setSources(item, sources);
  return item;
}

function setText(item, content) {
  const parts = content.split(/(\[\d+(?:,\s*\d+)*\])/).filter(Boolean).map((part) => {
    const cited = /^\[(\d+(?:,\s*\d+)*)\]$/.exec(part);
    if (!cited) return part;
    return h('sup', null, cited[1].split(/,\s*/).map((n) => h('a', { href: `#source-${n}`, class: 'cite', 'data-n': n }, `[${n}]`)));
  });
  show(item.querySelector('.chat-text'), ...parts);
}

function setSources(item, sources) {
  show(item.querySelector('.chat-sources'), ...sources.map((s) => {
    const link = s.conversation_id && `#/conversations/${encodeURIComponent(s.conversation_id)}`;
    return h('li', { value: s.n, 'data-n': s.n },
      h('q', null, s.text || '…'), ' ',
      h('small', null, when(s.time), s.offset_seconds != null && [' · at ', clock(s.offset_seconds)],
        link && [' · ', h('a', { href: link }, 'open the conversation')]));
  }));
  // Each citation jumps to its source in this message.
  for (const cite of item.querySelectorAll('a.cite')) {
    cite.addEventListener('click', (e) => {
      e.preventDefault();
      item.querySelector(`.chat-sources li[data-n="${cite.dataset.n}"]`)?.scrollIntoView({ block: 'nearest' });
    });
  }
}

/** Posts the question and reads the answer's events as they come. */
async function stream(id, content, item, signal) {
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || undefined;
  const response = await fetch(`/api/chat/sessions/${encodeURIComponent(id)}/messages`, {
    method: 'POST', signal,
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ content, tz }),
  });
  if (!response.ok) {
    const body = await response.json().catch(() => null);
    if (response.status === 401) window.dispatchEvent(new Event('chronicle:signed-out'));
    throw new ApiError(response.status, detailOf(response.status, body), body);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = '';
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += value;
    let end;
    while ((end = pending.indexOf('\n\n')) >= 0) {
      const block = pending.slice(0, end);
      pending = pending.slice(end + 2);
      const name = /^event:\s*(.*)$/m.exec(block)?.[1];
      const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
      if (!name || !data) continue;
      const event = JSON.parse(data);
      if (name === 'delta') {
        text += event.text;
        setText(item, text);
      } else if (name === 'tool') {
        item.querySelector('.chat-tools').append(h('span', { class: 'chip open' }, toolLabel(event)));
      } else if (name === 'sources') {
        setSources(item, event.sources);
      } else if (name === 'done') {
        setText(item, event.message.content);
      } else if (name === 'error') {
        throw new ApiError(0, event.detail);
      }
    }
  }
}

function toolLabel({ name, arguments: args }) {
  if (name === 'search') return `searched “${args.query || ''}”`;
  if (name === 'get_conversation') return 'read a conversation';
  if (name === 'list_conversations') return 'listed conversations';
  return name.replace(/_/g, ' ');
}
