// The dashboard's calls to the admin listener: reads, and actions that carry the session's
// CSRF token. Errors come back in OpenAI's shape; `ApiError` keeps the status and the code.

let csrfToken = "";

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code ?? null;
  }
}

export function setCsrfToken(token) {
  csrfToken = token ?? "";
}

async function call(method, path, body) {
  const headers = { accept: "application/json" };
  if (method !== "GET") headers["x-csrf-token"] = csrfToken;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export const get = (path) => call("GET", path);
export const post = (path, body = {}) => call("POST", path, body);
export const del = (path) => call("DELETE", path);

/** The session of this page, or { authenticated: false }. */
export const session = () => get("/dashboard/api/session");

export async function login(key) {
  const s = await post("/dashboard/login", { key });
  setCsrfToken(s.csrfToken);
  return s;
}

export const logout = () => post("/dashboard/logout");

/**
 * The live feed: one EventSource for the whole page. `onHistory` gets the last hour of KPI
 * samples, `onSnapshot` each snapshot, `onState` true/false as the connection opens and drops
 * (the browser reconnects by itself).
 */
export function live({ onHistory, onSnapshot, onState }) {
  const source = new EventSource("/dashboard/events");
  source.addEventListener("history", (e) => onHistory(JSON.parse(e.data)));
  source.addEventListener("snapshot", (e) => onSnapshot(JSON.parse(e.data)));
  source.addEventListener("open", () => onState(true));
  source.addEventListener("error", () => onState(false));
  return () => source.close();
}
