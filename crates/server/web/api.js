// Talking to the server. Every call is same-origin, so the browser sends the HttpOnly session
// cookie itself: scripts never see a token. Errors carry the server's `{"detail": …}`.

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** The words for an answer that is not a success. */
export function detailOf(status, body) {
  const detail = body && typeof body === 'object' ? body.detail : null;
  if (typeof detail === 'string') return detail;
  if (detail != null) return JSON.stringify(detail);
  if (typeof body === 'string' && body.trim()) return body.trim();
  return status === 403 ? 'Only admins may do this' : `the server answered ${status}`;
}

/**
 * `api('/api/x', {method, json, body, query})`: the parsed answer (JSON, or text for
 * text/plain). A 401 means the session ended: the app is told, and shows the sign-in form.
 */
export async function api(path, { method = 'GET', json, body, query, headers = {} } = {}) {
  if (query) path += search(query);
  const init = { method, headers: { accept: 'application/json', ...headers } };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers['content-type'] = 'application/json';
  } else if (body !== undefined) init.body = body;
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, `the server cannot be reached (${error.message})`);
  }
  const type = response.headers.get('content-type') || '';
  const answer = response.status === 204 ? null
    : type.includes('json') ? await response.json().catch(() => null) : await response.text();
  if (!response.ok) {
    if (response.status === 401 && path !== '/api/users/me') {
      window.dispatchEvent(new Event('chronicle:signed-out'));
    }
    throw new ApiError(response.status, detailOf(response.status, answer), answer);
  }
  return answer;
}

/** `?a=1&b=x` from the parameters that have a value. */
export function search(params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value != null && value !== '' && value !== false) query.set(key, value);
  }
  const text = query.toString();
  return text ? `?${text}` : '';
}

/**
 * Server-sent events from `path`: `on` maps event names to handlers of the parsed data;
 * `status(text)` hears the connection state. The browser reconnects by itself after a drop.
 * Returns the function that closes it (called when the page is left).
 */
export function stream(path, on, status = () => {}) {
  const source = new EventSource(path);
  source.onopen = () => status('live');
  source.onerror = () => status(source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');
  for (const [name, handle] of Object.entries(on)) {
    source.addEventListener(name, (event) => {
      let data = null;
      try { data = JSON.parse(event.data); } catch { return; }
      handle(data);
    });
  }
  return () => source.close();
}
