// The API reference at /api/docs: the server's OpenAPI 3.1 document (/api/openapi.json), read
// in the browser and shown as sections of operations, each closed until opened, with its
// parameters, request body and answers as trees of their schemas ($refs followed, cycles and
// depth cut short). Nothing comes from another host, and the document's words only ever go
// in as text: descriptions get a few Markdown marks (`code`, **bold**, links, lists), built as
// elements, never parsed as HTML.

import { detailOf } from './api.js';
import { h, show, table, title } from './ui.js';

const SOURCE = '/api/openapi.json';
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
/** How many levels of properties a tree shows before it points to the schema instead. */
const MAX_DEPTH = 8;
const SCHEMA_REF = '#/components/schemas/';
/** Where a parameter goes, in the order a request is written. */
const PLACES = ['path', 'query', 'header', 'cookie'];
const ACCESS = { auth: 'auth', optional: 'auth optional', public: 'public' };

const isObject = (value) => value !== null && typeof value === 'object' && !Array.isArray(value);
const list = (value) => (Array.isArray(value) ? value : value == null ? [] : [value]);
const short = (value) => {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 120 ? `${text.slice(0, 119)}…` : text;
};

/** What builds each lazy <details>'s content. */
const fillers = new WeakMap();

/** A <details> whose content is built the first time it opens (at once if open already). */
function lazy(details, className, build) {
  let built = false;
  const fill = () => {
    if (built) return;
    built = true;
    details.append(h('div', { class: className }, build()));
  };
  fillers.set(details, fill);
  details.addEventListener('toggle', () => { if (details.open) fill(); });
  if (details.open) fill();
  return details;
}
function openDetails(details) {
  fillers.get(details)?.();
  details.open = true;
}

async function start() {
  const main = document.getElementById('main');
  let doc;
  try {
    doc = await fetchDocument();
  } catch (error) {
    document.title = 'API reference: not loaded';
    show(main, title('API reference'), h('div', { class: 'state error', role: 'alert' },
      h('strong', null, `Could not load ${SOURCE}: `), error.message));
    return;
  }
  const ctx = context(doc);
  try {
    show(main, page(ctx));
  } catch (error) {
    show(main, title('API reference'), h('div', { class: 'state error', role: 'alert' },
      h('strong', null, `Could not show ${SOURCE}: `), error.message));
    return;
  }
  document.addEventListener('keydown', (event) => {
    const active = document.activeElement;
    if (event.key !== '/' || event.ctrlKey || event.metaKey || event.altKey) return;
    if (active && (/^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName) || active.isContentEditable)) return;
    event.preventDefault();
    ctx.filter.focus();
  });
  // A link to a schema or an operation opens it, also when the address already names it.
  window.addEventListener('hashchange', () => reveal(ctx, location.hash));
  main.addEventListener('click', (event) => {
    const link = event.target.closest('a[href^="#"]');
    if (link) setTimeout(() => reveal(ctx, link.getAttribute('href')), 0);
  });
  if (location.hash) reveal(ctx, location.hash);
}

async function fetchDocument() {
  let response;
  try {
    response = await fetch(SOURCE, { headers: { accept: 'application/json' } });
  } catch (error) {
    throw new Error(`the server cannot be reached (${error.message})`);
  }
  const text = await response.text();
  let body;
  try { body = JSON.parse(text); } catch (error) {
    if (response.ok) throw new Error(`it is not JSON (${error.message})`);
    body = text;
  }
  if (!response.ok) throw new Error(`${detailOf(response.status, body)} (HTTP ${response.status})`);
  if (!isObject(body) || typeof body.openapi !== 'string') throw new Error('it is not an OpenAPI document (no "openapi" version)');
  return body;
}

/** What every part of the page needs: the document, its operations, unique element ids. */
function context(doc) {
  const used = new Set(['main', 'filter', 'authentication', 'components', 'operations']);
  const uid = (base) => {
    let id = base;
    for (let n = 2; used.has(id); n++) id = `${base}-${n}`;
    used.add(id);
    return id;
  };
  const ctx = { doc, uid, items: [], sections: [] };
  ctx.schemaIds = new Map(Object.keys(isObject(doc.components?.schemas) ? doc.components.schemas : {})
    .map((name) => [name, uid(`schema-${name.replace(/[^A-Za-z0-9_.-]+/g, '-')}`)]));
  ctx.schemeIds = new Map(Object.keys(securitySchemes(ctx))
    .map((name) => [name, uid(`security-${slug(name)}`)]));
  ctx.operations = operations(ctx);
  return ctx;
}

const slug = (text) => String(text).toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '') || 'x';

// The document: JSON pointers, operations, tags.

/** The value at a local `#/…` pointer, or undefined. */
function pointer(doc, ref) {
  if (typeof ref !== 'string' || !ref.startsWith('#')) return undefined;
  if (ref === '#') return doc;
  if (!ref.startsWith('#/')) return undefined;
  let node = doc;
  for (const raw of ref.slice(2).split('/')) {
    const key = unescapeSegment(raw);
    if (node === null || typeof node !== 'object' || !Object.prototype.hasOwnProperty.call(node, key)) return undefined;
    node = node[key];
  }
  return node;
}

function unescapeSegment(raw) {
  let text = raw;
  try { text = decodeURIComponent(raw); } catch { /* as it is */ }
  return text.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** `Conversation` for `#/components/schemas/Conversation`, else null. */
function schemaName(ref) {
  if (typeof ref !== 'string' || !ref.startsWith(SCHEMA_REF)) return null;
  const rest = ref.slice(SCHEMA_REF.length);
  return rest && !rest.includes('/') ? unescapeSegment(rest) : null;
}
const schemaRef = (name) => SCHEMA_REF + encodeURIComponent(name.replace(/~/g, '~0').replace(/\//g, '~1'));
const refName = (ref) => schemaName(ref) ?? unescapeSegment(String(ref).split('/').pop() || String(ref));

/** A parameter, body, response or header with its `$ref`s followed (its own keys win). */
function resolveObject(ctx, raw) {
  let value = raw;
  for (let hops = 0; isObject(value) && typeof value.$ref === 'string'; hops++) {
    const { $ref, ...siblings } = value;
    const target = hops < 16 ? pointer(ctx.doc, $ref) : undefined;
    if (!isObject(target)) return { ...siblings, unresolved: $ref };
    value = { ...target, ...siblings };
  }
  return isObject(value) ? value : {};
}

function securitySchemes(ctx) {
  const schemes = ctx.doc.components?.securitySchemes;
  return isObject(schemes) ? schemes : {};
}

/** Every operation of every path, in the document's order. */
function operations(ctx) {
  const found = [];
  const paths = isObject(ctx.doc.paths) ? ctx.doc.paths : {};
  for (const [path, raw] of Object.entries(paths)) {
    const item = resolveObject(ctx, raw);
    for (const method of METHODS) {
      const op = item[method];
      if (!isObject(op)) continue;
      const tags = list(op.tags).filter((tag) => typeof tag === 'string');
      const summary = typeof op.summary === 'string' && op.summary.trim() ? op.summary.trim()
        : firstLine(op.description);
      found.push({
        method, path, op, item, tags, summary,
        access: access(ctx, op),
        words: [method, path, summary, op.operationId, ...tags].filter(Boolean).join(' ').toLowerCase(),
      });
    }
  }
  return found;
}

function firstLine(text) {
  if (typeof text !== 'string') return '';
  const line = text.trim().split(/\n\s*\n|\n/)[0] || '';
  return line.replace(/^#+\s*/, '');
}

/**
 * Who may call an operation: its `security`, else the document's. Each requirement is one way
 * in (all its schemes together); an empty one means no credential is needed.
 */
function access(ctx, op) {
  const requirements = Array.isArray(op.security) ? op.security
    : Array.isArray(ctx.doc.security) ? ctx.doc.security : [];
  const ways = requirements.filter((requirement) => isObject(requirement) && Object.keys(requirement).length);
  const anonymous = requirements.length === 0 || requirements.some((r) => !isObject(r) || !Object.keys(r).length);
  return { kind: ways.length === 0 ? 'public' : anonymous ? 'optional' : 'auth', ways };
}

/** The sections: the document's tags in its order, then tags it only uses, then the untagged. */
function sections(ctx) {
  const byName = new Map();
  for (const tag of list(ctx.doc.tags)) {
    if (isObject(tag) && typeof tag.name === 'string' && !byName.has(tag.name)) byName.set(tag.name, { tag, entries: [] });
  }
  const other = { tag: { name: 'Other', description: 'Operations without a tag.' }, entries: [] };
  for (const entry of ctx.operations) {
    if (!entry.tags.length) other.entries.push(entry);
    for (const name of entry.tags) {
      if (!byName.has(name)) byName.set(name, { tag: { name }, entries: [] });
      byName.get(name).entries.push(entry);
    }
  }
  return [...byName.values(), other].filter((section) => section.entries.length);
}

// The page.

function page(ctx) {
  const { doc } = ctx;
  const info = isObject(doc.info) ? doc.info : {};
  const name = typeof info.title === 'string' && info.title.trim() ? info.title.trim() : 'API';
  document.title = `${name} API reference`;
  const groups = sections(ctx);
  const total = ctx.operations.length;
  const servers = list(doc.servers).filter((server) => isObject(server) && typeof server.url === 'string');

  const filter = h('input', {
    type: 'search', id: 'filter', autocomplete: 'off', spellcheck: 'false',
    placeholder: 'Path, summary or tag  ( / )', 'aria-controls': 'operations',
  });
  ctx.filter = filter;
  ctx.count = h('p', { class: 'count', role: 'status', 'aria-live': 'polite' });
  ctx.none = h('p', { class: 'state empty', hidden: true });
  const run = () => applyFilter(ctx);
  filter.addEventListener('input', run);
  filter.addEventListener('search', run);
  const visible = () => ctx.items.filter((item) => !item.li.hidden);
  const toolbar = h('div', { class: 'api-toolbar', role: 'search', 'aria-label': 'Filter the operations' },
    h('label', { class: 'api-filter', for: 'filter' }, h('span', null, 'Filter')),
    filter,
    h('div', { class: 'row api-toolbar-end' }, ctx.count,
      h('button', { type: 'button', onClick: () => visible().forEach((item) => openDetails(item.details)) }, 'Expand all'),
      h('button', { type: 'button', onClick: () => ctx.items.forEach((item) => { item.details.open = false; }) }, 'Collapse all')));

  const nav = h('nav', { class: 'api-toc', 'aria-label': 'Sections' }, h('ul', null,
    groups.map((group) => {
      group.id = ctx.uid(`tag-${slug(group.tag.name)}`);
      group.link = h('li', null, h('a', { href: `#${group.id}` }, group.tag.name, ' ',
        h('span', { class: 'n' }, String(group.entries.length))));
      return group.link;
    }),
    Object.keys(securitySchemes(ctx)).length > 0 && h('li', { class: 'aside' }, h('a', { href: '#authentication' }, 'Authentication')),
    h('li', { class: 'aside' }, h('a', { href: '#components' }, 'Components'))));

  const body = [
    title(name, typeof info.version === 'string' && h('span', { class: 'chip open', title: 'Version' }, `v${info.version}`)),
    h('p', { class: 'lead' }, 'API reference · OpenAPI ', doc.openapi, ' · ',
      `${total} ${total === 1 ? 'operation' : 'operations'}`,
      servers.length > 0 && [' · base URL ', servers.map((server, i) => [i ? ', ' : '', h('code', null, server.url)])],
      ' · ', h('a', { href: SOURCE, download: 'openapi.json' }, 'openapi.json')),
    prose(info.description, 'prose api-intro'),
    (info.license?.name || info.contact) && h('p', { class: 'meta' },
      info.license?.name && `License: ${info.license.name}`,
      info.license?.name && info.contact && ' · ',
      info.contact && contact(info.contact)),
    nav,
    schemesSection(ctx),
    h('div', { id: 'operations', class: 'api-operations' },
      toolbar,
      ctx.none,
      groups.map((group) => tagSection(ctx, group)),
      !total && h('p', { class: 'state empty' }, 'The document has no operations.')),
    componentsSection(ctx),
  ];
  applyFilter(ctx);
  return body;
}

function contact(who) {
  const label = who.name || who.email || who.url;
  if (typeof who.email === 'string') return h('a', { href: `mailto:${who.email}` }, label);
  if (typeof who.url === 'string' && safeHref(who.url)) return h('a', { href: who.url, rel: 'noopener noreferrer' }, label);
  return label ? String(label) : null;
}

function applyFilter(ctx) {
  const terms = ctx.filter.value.toLowerCase().split(/\s+/).filter(Boolean);
  const shown = new Set();
  for (const item of ctx.items) {
    const match = terms.every((term) => item.entry.words.includes(term));
    item.li.hidden = !match;
    if (match) shown.add(item.entry);
  }
  for (const section of ctx.sections) {
    const any = section.items.some((item) => !item.li.hidden);
    section.el.hidden = !any;
    section.link.hidden = !any;
  }
  const total = ctx.operations.length;
  ctx.count.textContent = terms.length ? `${shown.size} of ${total} shown` : `${total} ${total === 1 ? 'operation' : 'operations'}`;
  ctx.none.hidden = !(terms.length && total && !shown.size);
  ctx.none.textContent = `No operation's path, summary or tag has “${ctx.filter.value.trim()}”.`;
}

/** Opens what the address names (an operation, a schema) and the sections around it. */
function reveal(ctx, hash) {
  const id = unescapeSegment(String(hash || '').replace(/^#/, ''));
  const target = id && document.getElementById(id);
  if (!target) return;
  if (target.closest('[hidden]') && ctx.filter.value) {
    ctx.filter.value = '';
    applyFilter(ctx);
  }
  const chain = [];
  for (let el = target.closest('details'); el; el = el.parentElement?.closest('details')) chain.push(el);
  chain.reverse().forEach(openDetails);
  target.scrollIntoView({ block: 'start' });
}

function schemesSection(ctx) {
  const schemes = Object.entries(securitySchemes(ctx));
  if (!schemes.length) return null;
  return h('section', { id: 'authentication', class: 'api-schemes', 'aria-labelledby': 'authentication-title' },
    h('h2', { id: 'authentication-title' }, 'Authentication'),
    h('p', { class: 'meta' }, 'An operation marked ', h('span', { class: 'access auth' }, ACCESS.auth),
      ' takes one of these; one marked ', h('span', { class: 'access public' }, ACCESS.public), ' needs none.'),
    h('dl', { class: 'api-scheme-list' }, schemes.map(([name, raw]) => {
      const scheme = resolveObject(ctx, raw);
      return [
        h('dt', { id: ctx.schemeIds.get(name) }, h('code', null, name), ' ', h('span', { class: 'ptype' }, schemeText(scheme))),
        h('dd', null, prose(scheme.description) || h('p', { class: 'meta' }, 'No description.')),
      ];
    })));
}

function schemeText(scheme) {
  switch (scheme.type) {
    case 'http': return `HTTP ${scheme.scheme || ''}${scheme.bearerFormat ? ` (${scheme.bearerFormat})` : ''}`.trim();
    case 'apiKey': return `API key in the ${scheme.in || '?'} ${scheme.name ? `“${scheme.name}”` : ''}`.trim();
    case 'oauth2': return 'OAuth 2';
    case 'openIdConnect': return 'OpenID Connect';
    case 'mutualTLS': return 'mutual TLS';
    default: return scheme.type ? String(scheme.type) : 'unknown';
  }
}

function tagSection(ctx, group) {
  const section = { items: [], link: group.link };
  const headingId = `${group.id}-title`;
  section.el = h('section', { class: 'api-tag', id: group.id, 'aria-labelledby': headingId },
    h('h2', { id: headingId }, group.tag.name),
    prose(group.tag.description, 'prose tag-about'),
    h('ul', { class: 'ops' }, group.entries.map((entry) => {
      const item = operationItem(ctx, entry);
      section.items.push(item);
      ctx.items.push(item);
      return item.li;
    })));
  ctx.sections.push(section);
  return section.el;
}

// An operation.

function operationItem(ctx, entry) {
  const { method, path, op, summary } = entry;
  const id = ctx.uid(`op-${slug(op.operationId || `${method}-${path}`)}`);
  const details = h('details', { class: 'op', id },
    h('summary', null,
      h('span', { class: `method m-${method}` }, method.toUpperCase()), ' ',
      h('code', { class: 'path' }, pathWords(path)), ' ',
      summary && h('span', { class: 'op-summary' }, inline(summary)),
      op.deprecated === true && h('span', { class: 'flag bad' }, 'deprecated'),
      h('span', { class: `access ${entry.access.kind}` }, ACCESS[entry.access.kind])));
  lazy(details, 'op-body', () => operationBody(ctx, entry, id));
  const li = h('li', { class: 'op-item', 'data-method': method.toUpperCase(), 'data-path': path }, details);
  return { li, details, entry };
}

/** The path with its `{parameters}` set apart. */
function pathWords(path) {
  return path.split(/(\{[^}]*\})/).filter(Boolean)
    .map((part) => (part.startsWith('{') ? h('span', { class: 'path-param' }, part) : part));
}

function operationBody(ctx, entry, id) {
  const { op, item } = entry;
  const params = parameters(ctx, item, op);
  const body = op.requestBody && resolveObject(ctx, op.requestBody);
  const description = typeof op.description === 'string' && op.description.trim() !== entry.summary ? op.description : null;
  return [
    prose(description),
    accessNote(ctx, entry.access),
    params.length > 0 && [h('h3', null, 'Parameters'), parameterTable(ctx, params)],
    body && [
      h('h3', null, 'Request body', ' ', body.required ? h('span', { class: 'req' }, 'required') : h('span', { class: 'meta' }, '(optional)')),
      prose(body.description),
      mediaList(ctx, body.content),
    ],
    h('h3', null, 'Responses'),
    responses(ctx, op.responses),
    h('p', { class: 'op-meta' },
      op.operationId && ['operationId ', h('code', null, String(op.operationId)), ' · '],
      h('a', { href: `#${id}` }, 'Link to this operation')),
  ];
}

function accessNote(ctx, { kind, ways }) {
  if (kind === 'public') return h('p', { class: 'access-note' }, h('strong', null, 'Public: '), 'no credential needed.');
  const schemes = securitySchemes(ctx);
  const way = (requirement) => Object.entries(requirement).map(([name, scopes], i) => [
    i ? ' and ' : '',
    ctx.schemeIds.has(name) ? h('a', { href: `#${ctx.schemeIds.get(name)}` }, h('code', null, name)) : h('code', null, name),
    list(scopes).length > 0 && ` (${list(scopes).join(', ')})`,
    schemes[name] && h('span', { class: 'meta' }, ` — ${schemeText(resolveObject(ctx, schemes[name]))}`),
  ]);
  return h('div', { class: 'access-note' },
    h('p', null, h('strong', null, kind === 'auth' ? 'Needs a credential' : 'A credential is optional'),
      ways.length > 1 ? ', any one of:' : ':'),
    h('ul', null, ways.map((requirement) => h('li', null, way(requirement)))));
}

/** The path item's parameters and the operation's (which win), path ones first. */
function parameters(ctx, item, op) {
  const byKey = new Map();
  for (const raw of [...list(item.parameters), ...list(op.parameters)]) {
    const param = resolveObject(ctx, raw);
    if (typeof param.name !== 'string') continue;
    byKey.set(`${param.in}:${param.name}`, param);
  }
  const rank = (param) => { const at = PLACES.indexOf(param.in); return at < 0 ? PLACES.length : at; };
  return [...byKey.values()].sort((a, b) => rank(a) - rank(b));
}

function parameterTable(ctx, params) {
  return table(['Name', 'In', 'Type', 'Description'], params.map((param) => {
    const schema = param.schema ?? Object.values(isObject(param.content) ? param.content : {})[0]?.schema;
    const info = normalize(ctx, schema, new Set());
    return {
      class: param.deprecated ? 'deprecated' : null,
      cells: [
        h('span', { class: 'param-name' }, h('code', { class: 'pname' }, param.name), ' ',
          (param.required || param.in === 'path') && h('span', { class: 'req' }, 'required')),
        param.in || '',
        h('span', { class: 'ptype' }, typeLabel(ctx, info)),
        h('div', null, prose(param.description), about(ctx, info, { description: false }),
          param.deprecated && h('span', { class: 'flag bad' }, 'deprecated')),
      ],
    };
  }), { class: 'params' });
}

function responses(ctx, map) {
  const entries = Object.entries(isObject(map) ? map : {});
  if (!entries.length) return h('p', { class: 'meta' }, 'No responses are described.');
  return h('ul', { class: 'responses' }, entries.map(([status, raw]) => {
    const response = resolveObject(ctx, raw);
    const kind = /^2/.test(status) ? 'ok' : /^3/.test(status) ? 'open' : /^[45]/.test(status) ? 'bad' : '';
    const content = isObject(response.content) && Object.keys(response.content).length ? response.content : null;
    return h('li', { class: 'response' },
      h('div', { class: 'response-head' },
        h('span', { class: `chip status ${kind}` }, status),
        h('div', { class: 'response-about' }, prose(response.description) || h('p', null, '—'))),
      headerTable(ctx, response.headers),
      content ? mediaList(ctx, content, { open: kind !== 'bad' }) : h('p', { class: 'meta' }, 'No body.'));
  }));
}

function headerTable(ctx, headers) {
  const entries = Object.entries(isObject(headers) ? headers : {});
  if (!entries.length) return null;
  return table(['Header', 'Type', 'Description'], entries.map(([name, raw]) => {
    const header = resolveObject(ctx, raw);
    return { cells: [h('code', { class: 'pname' }, name), h('span', { class: 'ptype' }, typeLabel(ctx, normalize(ctx, header.schema, new Set()))), h('div', null, prose(header.description))] };
  }), { class: 'params' });
}

/** Each content type of a body or an answer, with its schema and examples. */
function mediaList(ctx, content, { open = true } = {}) {
  const entries = Object.entries(isObject(content) ? content : {});
  if (!entries.length) return null;
  return entries.map(([type, raw]) => {
    const media = isObject(raw) ? raw : {};
    const examples = [];
    if ('example' in media) examples.push(['Example', media.example]);
    for (const [key, value] of Object.entries(isObject(media.examples) ? media.examples : {})) {
      const example = resolveObject(ctx, value);
      if ('value' in example) examples.push([example.summary || key, example.value]);
    }
    const lead = h('code', { class: 'media-type' }, type);
    return h('div', { class: 'media' },
      media.schema !== undefined ? schemaTree(ctx, media.schema, { lead, open })
        : h('div', { class: 'prop-head' }, lead, h('span', { class: 'meta' }, 'any content')),
      examples.map(([label, value]) => h('details', { class: 'example' }, h('summary', null, label),
        h('pre', { class: 'json' }, typeof value === 'string' ? value : JSON.stringify(value, null, 2)))));
  });
}

// Schemas.

/**
 * A schema as the page shows it: `$ref`s followed (the siblings of a `$ref` win), `allOf`
 * merged, `null` taken out of `type`, `enum`, `oneOf`/`anyOf` into `nullable`. `seen` holds the
 * refs above this one in the tree: meeting one again is a cycle, shown as a link.
 */
function normalize(ctx, raw, seen) {
  return { seen, ...normalized(ctx, raw, seen) };
}

function normalized(ctx, raw, seen) {
  if (raw === false) return { schema: {}, refs: [], types: [], never: true };
  if (!isObject(raw)) return { schema: {}, refs: [], types: [] };
  const refs = [];
  let schema = raw;
  let ref = null;
  for (let hops = 0; typeof schema.$ref === 'string'; hops++) {
    const target = schema.$ref;
    const { $ref, ...siblings } = schema;
    if (seen.has(target) || refs.includes(target) || hops >= 16) {
      return { schema: siblings, refs, types: [], ref: ref ?? target, cyclic: target };
    }
    ref ??= target;
    refs.push(target);
    const found = pointer(ctx.doc, target);
    if (found === false) return { schema: siblings, refs, types: [], ref, never: true };
    if (!isObject(found)) return { schema: siblings, refs, types: [], ref, missing: found !== true };
    schema = { ...found, ...siblings };
  }
  const inside = new Set([...seen, ...refs]);
  if (Array.isArray(schema.allOf) && schema.allOf.length === 1 && !STRUCTURE.some((key) => key in schema)) {
    // `allOf: [{$ref: X}]` beside a description is X, described here.
    const { allOf: [only], ...own } = schema;
    const inner = normalize(ctx, only, inside);
    return { ...inner, schema: { ...inner.schema, ...annotations(own) }, refs: [...refs, ...inner.refs], ref: ref ?? inner.ref,
      nullable: inner.nullable || own.nullable === true };
  }
  if (Array.isArray(schema.allOf)) schema = mergeAllOf(ctx, schema, inside, refs);

  let types = list(schema.type).filter((type) => typeof type === 'string');
  let nullable = types.includes('null') || schema.nullable === true;
  types = types.filter((type) => type !== 'null');
  if (Array.isArray(schema.enum) && schema.enum.includes(null)) {
    nullable = true;
    schema = { ...schema, enum: schema.enum.filter((value) => value !== null) };
  }
  for (const key of ['oneOf', 'anyOf']) {
    if (!Array.isArray(schema[key])) continue;
    const variants = schema[key].filter((variant) => !isNullSchema(ctx, variant));
    if (variants.length === schema[key].length) continue;
    nullable = true;
    const { [key]: _, ...own } = schema;
    if (variants.length === 1 && !types.length && !schema.properties && !schema.items) {
      // `Option<T>` in 3.1: `oneOf: [{type: null}, T]` reads as `T | null`.
      const inner = normalize(ctx, variants[0], inside);
      return { ...inner, schema: { ...inner.schema, ...annotations(own) }, refs: [...refs, ...inner.refs], ref: ref ?? inner.ref, nullable: true };
    }
    schema = variants.length ? { ...own, [key]: variants } : own;
  }
  if (!types.length) types = inferTypes(schema);
  return { schema, refs, ref, types, nullable };
}

/** The keywords that make a schema more than a name for another. */
const STRUCTURE = ['type', 'properties', 'additionalProperties', 'items', 'oneOf', 'anyOf', 'enum', 'const'];
const ANNOTATIONS = ['title', 'description', 'default', 'example', 'examples', 'deprecated', 'readOnly', 'writeOnly'];
const annotations = (schema) => Object.fromEntries(ANNOTATIONS.filter((key) => key in schema).map((key) => [key, schema[key]]));

function isNullSchema(ctx, raw) {
  const schema = isObject(raw) && typeof raw.$ref === 'string' ? pointer(ctx.doc, raw.$ref) : raw;
  if (!isObject(schema)) return false;
  const types = list(schema.type);
  return (types.length === 1 && types[0] === 'null') || ('const' in schema && schema.const === null)
    || (Array.isArray(schema.enum) && schema.enum.length === 1 && schema.enum[0] === null);
}

function inferTypes(schema) {
  if (isObject(schema.properties) || isObject(schema.additionalProperties) || isObject(schema.patternProperties)) return ['object'];
  if (schema.items !== undefined || Array.isArray(schema.prefixItems)) return ['array'];
  const values = 'const' in schema ? [schema.const] : Array.isArray(schema.enum) ? schema.enum : [];
  const kinds = new Set(values.map((value) => (Array.isArray(value) ? 'array' : value === null ? 'null'
    : typeof value === 'number' ? (Number.isInteger(value) ? 'integer' : 'number') : typeof value)));
  kinds.delete('null');
  return [...kinds];
}

/** `allOf`'s parts folded into one object: their properties, then its own. */
function mergeAllOf(ctx, schema, seen, refs) {
  const { allOf, ...own } = schema;
  const merged = { ...own };
  const properties = {};
  const required = new Set(list(own.required));
  const rest = [];
  for (const part of allOf) {
    const info = normalize(ctx, part, seen);
    if (info.cyclic || info.missing || info.never) { rest.push(part); continue; }
    refs.push(...info.refs.filter((ref) => !refs.includes(ref)));
    const s = info.schema;
    if (isObject(s.properties)) Object.assign(properties, s.properties);
    list(s.required).forEach((name) => required.add(name));
    for (const [key, value] of Object.entries(s)) {
      if (!(key in merged) && key !== 'properties' && key !== 'required') merged[key] = value;
    }
    if (info.nullable && merged.type === undefined) merged.type = [...info.types, 'null'];
  }
  if (isObject(own.properties)) Object.assign(properties, own.properties);
  if (Object.keys(properties).length) merged.properties = properties;
  if (required.size) merged.required = [...required];
  if (rest.length) merged.allOf = rest;
  return merged;
}

/** A link to a component schema, or its name when the document does not define it. */
function refLink(ctx, ref) {
  const name = schemaName(ref);
  const id = name != null && ctx.schemaIds.get(name);
  return id ? h('a', { class: 'ref', href: `#${id}` }, name) : h('span', { class: 'ref missing', title: String(ref) }, refName(ref));
}

/** `string (date-time) | null`, `array of Conversation`, `Memory`, as nodes (links in it). */
function typeLabel(ctx, info, named = true, depth = 0) {
  const parts = [];
  const s = info.schema;
  if (info.never) parts.push('never');
  else if (info.cyclic) parts.push(refLink(ctx, info.cyclic));
  else if (named && info.ref) parts.push(refLink(ctx, info.ref));
  else if ('const' in s) parts.push(`const ${short(s.const)}`);
  else {
    const words = info.types.map((type) => {
      if (type === 'array') {
        if (Array.isArray(s.prefixItems)) return ['tuple'];
        if (s.items === undefined || depth > MAX_DEPTH) return ['array'];
        return ['array of ', ...typeLabel(ctx, normalize(ctx, s.items, new Set()), true, depth + 1)];
      }
      return [s.format && type !== 'object' ? `${type} (${s.format})` : type];
    });
    if (!words.length) {
      const key = ['oneOf', 'anyOf'].find((k) => Array.isArray(s[k]) && s[k].length);
      if (key && s[key].length <= 4 && depth <= MAX_DEPTH) {
        for (const variant of s[key]) words.push(typeLabel(ctx, normalize(ctx, variant, new Set()), true, depth + 1));
      } else if (key) words.push([`${key === 'oneOf' ? 'one' : 'any'} of ${s[key].length}`]);
      else if (Array.isArray(s.allOf)) words.push(['all of ', ...s.allOf.flatMap((part, i) => [i ? ' & ' : '', ...typeLabel(ctx, normalize(ctx, part, new Set()), true, depth + 1)])]);
      else if (s.not !== undefined) words.push(['not ', ...typeLabel(ctx, normalize(ctx, s.not, new Set()), true, depth + 1)]);
      else words.push([info.missing ? '?' : 'any']);
    }
    words.forEach((word, i) => parts.push(...(i ? [' | '] : []), ...word));
  }
  if (info.nullable) parts.push(' | null');
  return parts;
}

/** A schema's words: its description, then its values, default, limits, example. */
function about(ctx, info, { description = true } = {}) {
  const s = info.schema;
  const text = description && (typeof s.description === 'string' ? s.description : typeof s.title === 'string' ? s.title : null);
  const facts = [];
  const code = (value) => h('code', null, typeof value === 'string' ? value : short(value));
  const values = (label, enumerated) => facts.push([label, ...enumerated.flatMap((value, i) =>
    [i ? ' ' : '', h('code', { class: 'enum' }, typeof value === 'string' ? value : short(value))])]);
  if (Array.isArray(s.enum) && s.enum.length) values('one of ', s.enum);
  if (info.types.includes('array') && isObject(s.items)) {
    const items = normalize(ctx, s.items, new Set());
    if (!items.ref && Array.isArray(items.schema.enum) && items.schema.enum.length) values('each one of ', items.schema.enum);
  }
  if ('default' in s) facts.push(['default ', h('code', null, short(s.default))]);
  const range = (low, lowOpen, high, highOpen, unit = '') => {
    if (low === undefined && high === undefined) return;
    if (low !== undefined && high !== undefined) facts.push([`${lowOpen ? '>' : '≥'} ${low}${unit} and ${highOpen ? '<' : '≤'} ${high}${unit}`]);
    else if (low !== undefined) facts.push([`${lowOpen ? '>' : '≥'} ${low}${unit}`]);
    else facts.push([`${highOpen ? '<' : '≤'} ${high}${unit}`]);
  };
  const exclusive = (value) => (typeof value === 'number' ? value : undefined);
  range(exclusive(s.exclusiveMinimum) ?? s.minimum, exclusive(s.exclusiveMinimum) !== undefined,
    exclusive(s.exclusiveMaximum) ?? s.maximum, exclusive(s.exclusiveMaximum) !== undefined);
  if (s.multipleOf !== undefined) facts.push([`a multiple of ${s.multipleOf}`]);
  if (s.minLength !== undefined || s.maxLength !== undefined) {
    facts.push([s.minLength !== undefined && s.maxLength !== undefined ? `${s.minLength}–${s.maxLength} characters`
      : s.minLength !== undefined ? `at least ${s.minLength} characters` : `at most ${s.maxLength} characters`]);
  }
  if (typeof s.pattern === 'string') facts.push(['matches ', code(s.pattern)]);
  if (s.minItems !== undefined || s.maxItems !== undefined) {
    facts.push([s.minItems !== undefined && s.maxItems !== undefined ? `${s.minItems}–${s.maxItems} items`
      : s.minItems !== undefined ? `at least ${s.minItems} items` : `at most ${s.maxItems} items`]);
  }
  if (s.uniqueItems === true) facts.push(['no item twice']);
  if (typeof s.contentMediaType === 'string') facts.push(['content ', code(s.contentMediaType)]);
  if (typeof s.contentEncoding === 'string') facts.push(['encoded ', code(s.contentEncoding)]);
  if (isObject(s.discriminator) && typeof s.discriminator.propertyName === 'string') facts.push(['told apart by ', code(s.discriminator.propertyName)]);
  const example = 'example' in s ? s.example : Array.isArray(s.examples) && s.examples.length ? s.examples[0] : undefined;
  if (example !== undefined) facts.push(['example ', h('code', null, short(example))]);
  if (info.missing) facts.push(['not in the document: ', code(info.ref || '?')]);
  if (!text && !facts.length) return null;
  return [
    text && prose(text, 'prose desc'),
    facts.length > 0 && h('p', { class: 'constraints' }, facts.flatMap((fact, i) => [i ? ' · ' : '', ...fact])),
  ];
}

function flags(ctx, info, required) {
  const s = info.schema;
  const cyclic = info.cyclic || (info.types.includes('array') && isObject(s.items) && normalize(ctx, s.items, new Set([...info.seen, ...info.refs])).cyclic);
  return [
    required && h('span', { class: 'req' }, 'required'),
    cyclic && h('span', { class: 'flag' }, 'recursive'),
    s.readOnly === true && h('span', { class: 'flag' }, 'read-only'),
    s.writeOnly === true && h('span', { class: 'flag' }, 'write-only'),
    s.deprecated === true && h('span', { class: 'flag bad' }, 'deprecated'),
  ];
}

/**
 * What a schema holds, as entries that make their list items when shown: its properties,
 * an array's items' (an array of objects lists the objects' properties), its variants. Past
 * MAX_DEPTH, a note that points to the schema instead.
 */
function childEntries(ctx, info, depth, seen) {
  if (info.cyclic || info.never) return [];
  const s = info.schema;
  const inside = new Set([...seen, ...info.refs]);
  const entries = [];
  const required = list(s.required);
  const prop = (name, raw, isRequired, note) => ({ kind: 'prop', make: () => propItem(ctx, name, raw, isRequired, depth + 1, inside, note) });
  if (isObject(s.properties)) {
    for (const [name, raw] of Object.entries(s.properties)) entries.push(prop(name, raw, required.includes(name)));
  }
  if (isObject(s.patternProperties)) {
    for (const [pattern, raw] of Object.entries(s.patternProperties)) entries.push(prop(`/${pattern}/`, raw, false, 'keys matching'));
  }
  if (isObject(s.additionalProperties)) entries.push(prop('*', s.additionalProperties, false, 'any other key'));
  if (info.types.includes('array')) {
    if (Array.isArray(s.prefixItems)) s.prefixItems.forEach((raw, i) => entries.push({ ...prop(`[${i}]`, raw, false), kind: 'item' }));
    else if (isObject(s.items)) entries.push(...childEntries(ctx, normalize(ctx, s.items, inside), depth, inside));
  }
  for (const key of ['oneOf', 'anyOf']) {
    if (!Array.isArray(s[key]) || !s[key].length) continue;
    const variants = s[key].map((raw) => normalize(ctx, raw, inside));
    const worth = variants.some((variant) => variant.schema.description || childEntries(ctx, variant, depth + 1, inside).length);
    if (worth) entries.push({ kind: 'variants', label: `${key === 'oneOf' ? 'one' : 'any'} of ${variants.length}`, make: () => variantsItem(ctx, key, variants, depth + 1, inside) });
  }
  if (Array.isArray(s.allOf) && s.allOf.length) {
    entries.push({ kind: 'note', make: () => h('li', { class: 'prop note' }, 'and all of ',
      s.allOf.flatMap((part, i) => [i ? ', ' : '', ...typeLabel(ctx, normalize(ctx, part, inside))])) });
  }
  if (entries.length && depth >= MAX_DEPTH) {
    return [{ kind: 'note', make: () => h('li', { class: 'prop note' }, `Nested more than ${MAX_DEPTH} levels deep: not shown here`,
      info.ref ? [' (see ', refLink(ctx, info.ref), ')'] : '', '.') }];
  }
  return entries;
}

function propItem(ctx, name, raw, required, depth, seen, note) {
  const info = normalize(ctx, raw, seen);
  return h('li', { class: 'prop' },
    h('div', { class: 'prop-head' },
      h('code', { class: 'pname' }, name),
      note && h('span', { class: 'meta' }, note),
      h('span', { class: 'ptype' }, typeLabel(ctx, info)),
      flags(ctx, info, required)),
    about(ctx, info),
    nested(childEntries(ctx, info, depth, seen), depth));
}

function variantsItem(ctx, key, variants, depth, seen) {
  return h('li', { class: 'prop variants' },
    h('div', { class: 'prop-head' }, h('span', { class: 'kw' }, key === 'oneOf' ? 'one of' : 'any of')),
    h('ol', { class: 'tree' }, variants.map((info) => h('li', { class: 'prop' },
      h('div', { class: 'prop-head' },
        typeof info.schema.title === 'string' && h('strong', null, info.schema.title),
        h('span', { class: 'ptype' }, typeLabel(ctx, info)), flags(ctx, info, false)),
      about(ctx, info),
      nested(childEntries(ctx, info, depth, seen), depth)))));
}

/** A property's own properties, under a toggle: open for the first level, closed below. */
function nested(entries, depth) {
  if (!entries.length) return null;
  if (entries.every((entry) => entry.kind === 'note')) return h('ul', { class: 'tree' }, entries.map((entry) => entry.make()));
  const props = entries.filter((entry) => entry.kind === 'prop').length;
  const items = entries.filter((entry) => entry.kind === 'item').length;
  const label = [
    props && `${props} ${props === 1 ? 'property' : 'properties'}`,
    items && `${items} ${items === 1 ? 'item' : 'items'}`,
    ...entries.filter((entry) => entry.kind === 'variants').map((entry) => entry.label),
  ].filter(Boolean).join(', ') || 'more';
  const details = h('details', { class: 'kids', open: depth <= 1 }, h('summary', null, label));
  return lazy(details, 'kids-body', () => h('ul', { class: 'tree' }, entries.map((entry) => entry.make())));
}

/**
 * A body's or a component's schema: its type (after `lead`, a content type), words, and the
 * tree of what it holds: shown, or under a closed toggle (an error's, which is the same
 * everywhere).
 */
function schemaTree(ctx, raw, { named = true, lead = null, open = true, head = true } = {}) {
  const seen = new Set();
  const info = normalize(ctx, raw, seen);
  const entries = childEntries(ctx, info, 0, seen);
  return h('div', { class: 'schema' },
    head && h('div', { class: 'prop-head' }, lead, h('span', { class: 'ptype' }, typeLabel(ctx, info, named)), flags(ctx, info, false)),
    about(ctx, info),
    entries.length > 0 && (open ? h('ul', { class: 'tree' }, entries.map((entry) => entry.make())) : nested(entries, 2)));
}

function componentsSection(ctx) {
  const schemas = Object.entries(isObject(ctx.doc.components?.schemas) ? ctx.doc.components.schemas : {});
  return h('section', { id: 'components', class: 'api-components', 'aria-labelledby': 'components-title' },
    h('h2', { id: 'components-title' }, 'Components'),
    h('p', { class: 'meta' }, schemas.length
      ? `${schemas.length} ${schemas.length === 1 ? 'schema' : 'schemas'}, which the operations above refer to by name.`
      : 'The document defines no schemas.'),
    schemas.length > 0 && h('ul', { class: 'schema-list' }, schemas.map(([name, schema]) => {
      const ref = schemaRef(name);
      const info = normalize(ctx, { $ref: ref }, new Set());
      const line = firstLine(isObject(schema) ? schema.description : '');
      const details = h('details', { class: 'schema-def', id: ctx.schemaIds.get(name) },
        h('summary', null,
          h('code', { class: 'schema-name' }, name), ' ',
          h('span', { class: 'ptype' }, typeLabel(ctx, info, false)), flags(ctx, info, false),
          line && h('span', { class: 'op-summary' }, inline(line))));
      // Its summary shows the name and type: the body, the words and the tree.
      return h('li', null, lazy(details, 'schema-body', () => schemaTree(ctx, { $ref: ref }, { named: false, head: false })));
    })));
}

// Descriptions: CommonMark's paragraphs, lists, fences and inline marks, as elements.

function prose(text, className = 'prose') {
  if (typeof text !== 'string' || !text.trim()) return null;
  const blocks = [];
  let paragraph = [];
  let items = null;
  let ordered = false;
  let fence = null;
  const flush = () => {
    if (paragraph.length) blocks.push(h('p', null, inline(paragraph.join(' '))));
    paragraph = [];
    if (items) blocks.push(h(ordered ? 'ol' : 'ul', null, items.map((item) => h('li', null, inline(item)))));
    items = null;
  };
  for (const line of text.replace(/\r\n?/g, '\n').split('\n')) {
    if (fence) {
      if (/^\s*(```|~~~)/.test(line)) { blocks.push(h('pre', { class: 'json' }, fence.join('\n'))); fence = null; } else fence.push(line);
      continue;
    }
    if (/^\s*(```|~~~)/.test(line)) { flush(); fence = []; continue; }
    if (!line.trim()) { flush(); continue; }
    const heading = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading) { flush(); blocks.push(h('p', { class: 'prose-heading' }, h('strong', null, inline(heading[1])))); continue; }
    const bullet = /^\s*(?:([-*+])|(\d+)[.)])\s+(.*)$/.exec(line);
    if (bullet) {
      if (paragraph.length || (items && ordered !== !bullet[1])) flush();
      ordered = !bullet[1];
      (items ??= []).push(bullet[3]);
      continue;
    }
    if (items && /^\s+\S/.test(line)) { items[items.length - 1] += ` ${line.trim()}`; continue; }
    if (items) flush();
    paragraph.push(line.trim());
  }
  if (fence) blocks.push(h('pre', { class: 'json' }, fence.join('\n')));
  flush();
  return h('div', { class: className }, blocks);
}

const INLINE = /(`+)([\s\S]+?)\1|\*\*([^*]+)\*\*|\[([^\]]+)\]\(([^)\s]+)\)/g;

function inline(text) {
  const out = [];
  let last = 0;
  for (const match of String(text).matchAll(INLINE)) {
    if (match.index > last) out.push(text.slice(last, match.index));
    if (match[1]) out.push(h('code', null, match[2].trim() || match[2]));
    else if (match[3]) out.push(h('strong', null, match[3]));
    else if (safeHref(match[5])) out.push(h('a', { href: match[5], rel: /^https?:/i.test(match[5]) ? 'noopener noreferrer' : null }, match[4]));
    else out.push(match[4]);
    last = match.index + match[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

/** Links a description may carry: this site's, the web's, mail; never `javascript:` or data. */
const safeHref = (href) => typeof href === 'string' && /^(https?:\/\/|mailto:|\/(?!\/)|#)/i.test(href);

start();
