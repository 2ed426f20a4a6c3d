// The REST API as the console uses it: the bearer key (kept in this tab's
// sessionStorage only), the envelope {success, message, data, error:{code, field}}
// turned into data or an ApiError carrying the API's own message.
const KEY = 'callmesh.api_key';

export class ApiError extends Error {
  constructor(status, code, field, message) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

export function getKey() { return sessionStorage.getItem(KEY) || ''; }
export function setKey(k) { if (k) sessionStorage.setItem(KEY, k); else sessionStorage.removeItem(KEY); }

export function authHeaders(extra = {}) {
  const h = { ...extra };
  const k = getKey();
  if (k) h.Authorization = `Bearer ${k}`;
  return h;
}

// An error answer as an ApiError; a body that is not our envelope still
// gives a message that says what happened.
export async function errorFrom(res) {
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  const e = (body && body.error) || {};
  const msg = (body && body.message) || `${res.status} ${res.statusText || 'error'}`;
  return new ApiError(res.status, e.code || `http_${res.status}`, e.field || null, msg);
}

let onUnauthorized = null;
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

export async function api(method, path, body) {
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: authHeaders(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, 'network', null, `cannot reach the API: ${e.message}`);
  }
  if (!res.ok) {
    const err = await errorFrom(res);
    if (res.status === 401 && onUnauthorized) onUnauthorized(err);
    throw err;
  }
  const json = await res.json();
  return json.data;
}

// Every page of a list endpoint ({<name>: [...], next_cursor}), up to `max` items.
export async function listAll(path, name, max = 500) {
  const out = [];
  let cursor = null;
  for (let i = 0; i < 20 && out.length < max; i++) {
    const sep = path.includes('?') ? '&' : '?';
    const d = await api('GET', `${path}${sep}limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    out.push(...(d[name] || []));
    cursor = d.next_cursor;
    if (!cursor) break;
  }
  return out;
}
