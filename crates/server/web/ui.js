// DOM helpers every page shares. There is no framework: `h` builds elements, pages replace
// their own parts, and text always goes in as text (never as HTML), so nothing the server
// or a plugin stored can inject markup.

/** An element: `h('a', {href, class, onClick}, 'text', child, [more children])`. */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value == null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (PROPS.has(key)) el[key] = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  append(el, children);
  return el;
}

// Set as properties: their attributes are only the initial state.
const PROPS = new Set(['value', 'checked', 'disabled', 'hidden', 'selected', 'multiple',
  'readOnly', 'required', 'open', 'indeterminate']);

function append(el, children) {
  for (const child of children) {
    if (child == null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces what `root` shows. */
export function show(root, ...children) {
  root.replaceChildren();
  append(root, children);
}

export const loading = (what = 'Loading…') => h('p', { class: 'state loading', role: 'status' }, what);
export const empty = (what) => h('p', { class: 'state empty' }, what);

/** The server's `detail`, or what went wrong on the way. */
export function failure(error) {
  return h('div', { class: 'state error', role: 'alert' },
    h('strong', null, error.status ? `Error ${error.status}: ` : 'Error: '), error.message);
}

/** Shows `loading`, then what `render(data)` returns, or the error. */
export async function load(root, fetch, render) {
  show(root, loading());
  try {
    const data = await fetch();
    show(root, render(data));
  } catch (error) {
    show(root, failure(error));
  }
}

/** A page's heading; focused after navigation so keyboards and screen readers land on it. */
export const title = (text, ...extra) => h('div', { class: 'title' },
  h('h1', { tabindex: '-1' }, text), extra);

/**
 * A labelled control: the label wraps it, so a click on the words reaches it. A hint is the
 * control's description, not part of its name.
 */
export function field(label, control, hint) {
  const note = hint && h('small', { id: `hint-${++field.count}` }, hint);
  if (note) control.setAttribute('aria-describedby', note.id);
  return h('div', { class: 'field' }, h('label', null, h('span', null, label), control), note);
}
field.count = 0;

/** A short status message for everyone, announced to screen readers. */
export function toast(message, kind = 'ok') {
  const box = document.getElementById('toast');
  box.className = `toast show ${kind}`;
  box.textContent = message;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.className = 'toast'; }, 5000);
}

/** Asks before something that cannot be undone; resolves to whether the user agreed. */
export function confirm(message, action = 'Delete') {
  return new Promise((resolve) => {
    const dialog = h('dialog', { class: 'confirm', 'aria-label': 'Confirm' },
      h('form', { method: 'dialog' },
        h('p', null, message),
        h('div', { class: 'row end' },
          h('button', { value: 'no', type: 'submit' }, 'Cancel'),
          h('button', { value: 'yes', type: 'submit', class: 'danger' }, action))));
    dialog.addEventListener('close', () => { resolve(dialog.returnValue === 'yes'); dialog.remove(); });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** A button that runs `action` once at a time and reports its error. */
export function action(label, run, props = {}) {
  const button = h('button', { type: 'button', ...props }, label);
  button.addEventListener('click', async () => {
    button.disabled = true;
    try { await run(button); } catch (error) { toast(error.message, 'bad'); } finally { button.disabled = false; }
  });
  return button;
}

/** A coloured word for a status (`succeeded`, `failed`, …). */
export const chip = (text, kind = text) => h('span', { class: `chip ${kind}` }, text);

export const json = (value) => h('pre', { class: 'json' }, JSON.stringify(value, null, 2));

/** A table cell with a class, for `table`'s rows. */
export const td = (content, className) => h('td', { class: className }, content);

/**
 * A table that reads as a list of labelled rows on a phone: each cell carries its column's
 * name, which the style sheet shows beside it once the header row is hidden. A row is
 * `{cells, ...attributes}`; a cell is content, or a `td(…)`.
 */
export function table(headers, rows, { caption, class: className } = {}) {
  const cell = (content, i) => {
    const el = content instanceof HTMLTableCellElement ? content : h('td', null, content);
    el.dataset.label = headers[i];
    return el;
  };
  return h('div', { class: 'scroll' }, h('table', { class: ['stack', className].filter(Boolean).join(' ') },
    caption && h('caption', null, caption),
    h('thead', null, h('tr', null, headers.map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', null, rows.map(({ cells, ...attributes }) => h('tr', attributes, cells.map(cell))))));
}

// Formats. Times show in the browser's locale and time zone.
export function when(value) {
  if (value == null || value === '') return '—';
  const date = typeof value === 'number' ? new Date(value < 1e12 ? value * 1000 : value) : new Date(value);
  return isNaN(date) ? String(value) : date.toLocaleString();
}

export function duration(seconds) {
  if (seconds == null) return '—';
  const s = Math.round(seconds);
  const [hours, minutes, rest] = [Math.floor(s / 3600), Math.floor(s / 60) % 60, s % 60];
  return hours ? `${hours} h ${minutes} min` : minutes ? `${minutes} min ${rest} s` : `${rest} s`;
}

/** `m:ss` for a place in a recording. */
export const clock = (seconds) =>
  `${Math.floor(seconds / 60)}:${String(Math.floor(seconds % 60)).padStart(2, '0')}`;

export function bytes(n) {
  if (n == null) return '—';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

/** Previous/next over a server-side page of `limit` from `offset` out of `total`. */
export function pager(offset, limit, total, go) {
  const last = Math.min(offset + limit, total);
  return h('nav', { class: 'pager', 'aria-label': 'Result pages' },
    h('button', { type: 'button', disabled: offset <= 0, onClick: () => go(Math.max(0, offset - limit)) }, '← Previous'),
    h('span', null, total ? `${offset + 1}–${last} of ${total}` : '0'),
    h('button', { type: 'button', disabled: last >= total, onClick: () => go(offset + limit) }, 'Next →'));
}
