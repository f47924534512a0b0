// The server's JSON API as the pages use it: same-origin fetches carrying
// the HttpOnly session cookie, and the session's CSRF token on every request
// that changes state (docs/adr/0023-web-ui.md). The key never leaves the
// sign-in form: not in a URL, not in storage.
let csrf = null;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function call(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET' && method !== 'HEAD' && csrf) headers['X-Cairn-Csrf'] = csrf;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const e = data.error || {};
    throw new ApiError(res.status, e.code || 'error', e.message || `${method} ${path}: HTTP ${res.status}`);
  }
  return data;
}

export const get = (path) => call('GET', path);
export const post = (path, body) => call('POST', path, body ?? {});
export const put = (path, body) => call('PUT', path, body ?? {});
export const del = (path) => call('DELETE', path);

// The current session ({entity, admin, read_only}), or null when signed out.
export async function loadSession() {
  try {
    const s = await get('/api/v1/session');
    csrf = s.csrf;
    return s;
  } catch (e) {
    if (e.status === 401) return null;
    throw e;
  }
}

// credentials: {key} or {user, password}.
export async function signIn(credentials) {
  csrf = 'sign-in';  // any value: proves a same-origin script sent it
  const s = await post('/api/v1/session', credentials);
  csrf = s.csrf;
  return s;
}

export async function signOut() {
  await del('/api/v1/session');
  csrf = null;
}

// A file's bytes (version N), or null when bigger than `limit`.
export async function fetchBytes(url, limit) {
  const head = await fetch(url, { method: 'HEAD', credentials: 'same-origin' });
  if (!head.ok) throw new ApiError(head.status, 'error', `HEAD ${url}: HTTP ${head.status}`);
  if (Number(head.headers.get('Content-Length')) > limit) return null;
  const res = await fetch(url, { credentials: 'same-origin' });
  if (!res.ok) throw new ApiError(res.status, 'error', `GET ${url}: HTTP ${res.status}`);
  return res.blob();
}
