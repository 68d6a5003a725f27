// api.js - the one way the panel talks to the API (same origin, /api/...):
// the token in sessionStorage (gone when the tab closes), JSON in and out,
// errors in the API's shape turned into ApiError. A 401 on any signed-in
// call means the token is no longer good (expired, revoked, account
// deactivated): the token is dropped and onUnauthorized (the router's)
// sends the user back to the sign-in page.

const TOKEN_KEY = "honeydue.admin.token";

export const token = {
  get() {
    try {
      return sessionStorage.getItem(TOKEN_KEY);
    } catch {
      return null; // storage disabled: nobody is signed in
    }
  },
  set(value) {
    sessionStorage.setItem(TOKEN_KEY, value);
  },
  clear() {
    try {
      sessionStorage.removeItem(TOKEN_KEY);
    } catch {
      /* nothing stored */
    }
  },
};

export class ApiError extends Error {
  // status: the HTTP status (0 when the request never got an answer);
  // code and fields: the API's error code and per-field messages.
  constructor(status, code, message, fields, retryAfter) {
    super(message || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = code || "";
    this.fields = fields || null;
    this.retryAfter = retryAfter || null;
  }
}

let unauthorized = () => {};
// fn(error): called once per 401 on a call made with the stored token.
export function onUnauthorized(fn) {
  unauthorized = fn;
}

let forbidden = () => {};
// fn(error): called on a 403 from an admin route with the stored token
// (the account is no longer staff).
export function onForbidden(fn) {
  forbidden = fn;
}

// api(method, path, {body, signal, auth, tokenValue}) -> the parsed JSON
// body (null for 204). auth: false sends no token (sign-in); tokenValue
// sends that token instead of the stored one (and a 401 then is only
// thrown: the stored token, if any, is not the one refused).
export async function api(method, path, opts = {}) {
  const headers = { Accept: "application/json" };
  const stored = opts.tokenValue === undefined && opts.auth !== false;
  const tok = stored ? token.get() : opts.tokenValue;
  if (tok) headers.Authorization = `Token ${tok}`;
  let body;
  if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.body);
  }
  let r;
  try {
    r = await fetch(path, {
      method,
      headers,
      body,
      signal: opts.signal,
      cache: "no-store",
      credentials: "omit",
      redirect: "error",
    });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, "network", "The server could not be reached. Check the connection and try again.");
  }
  if (r.status === 204) return null;
  let data = null;
  const text = await r.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (r.ok) return data;
  const err = (data && data.error) || {};
  const e = new ApiError(r.status, err.code, err.message || r.statusText, err.fields,
    r.headers.get("Retry-After"));
  if (r.status === 401 && stored && tok) {
    token.clear();
    unauthorized(e);
  } else if (r.status === 403 && stored && tok && e.code === "forbidden" && path.startsWith("/api/admin/")) {
    forbidden(e);
  }
  throw e;
}

// A query string from an object, leaving out empty values: "?q=a&page=2".
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}
