/**
 * The dashboard's server side on the admin listener, against the fake engine: the page and its
 * CSP, login with a key for a session cookie, roles as the API's, the CSRF token on every
 * action, paged usage from the per-minute rollups, the audit tail, the live feed over SSE and
 * the unload/reload routes.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  call,
  chatBody,
  MODEL,
  startSecureServer,
  type SecureServer,
} from "../../helpers/access.js";
import { waitFor } from "../../helpers/server.js";

let s: SecureServer;
let admin: string;
let operator: { key: string; id: string };
let auditor: { key: string; id: string };
let user: { key: string; id: string };

before(async () => {
  s = await startSecureServer({ dashboard: { sampleMs: 100 } });
  admin = s.adminKey;
  operator = await s.createKey({ name: "ops", role: "operator" });
  auditor = await s.createKey({ name: "audit", role: "auditor" });
  user = await s.createKey({ name: "app", role: "user" });
});
after(() => s.close());

interface Login {
  status: number;
  cookie: string;
  setCookie: string;
  csrf: string;
  json: any;
}

async function login(key: string): Promise<Login> {
  const res = await fetch(`${s.server.adminUrl}/dashboard/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ key }),
  });
  const setCookie = res.headers.get("set-cookie") ?? "";
  const json = (await res.json()) as any;
  return {
    status: res.status,
    setCookie,
    cookie: setCookie.split(";")[0] ?? "",
    csrf: json.csrfToken,
    json,
  };
}

/** A request as the page makes it: the cookie, and the CSRF token (null: none). */
async function asPage(
  l: Login,
  path: string,
  method = "GET",
  body?: unknown,
  csrf: string | null = l.csrf,
) {
  const headers: Record<string, string> = { cookie: l.cookie };
  if (method !== "GET" && csrf !== null) headers["x-csrf-token"] = csrf;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${s.server.adminUrl}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: text ? JSON.parse(text) : null };
}

test("the page and its assets are served with a strict Content-Security-Policy", async () => {
  for (const path of [
    "/dashboard",
    "/dashboard/assets/app.js",
    "/dashboard/assets/dashboard.css",
  ]) {
    const res = await fetch(`${s.server.adminUrl}${path}`);
    assert.equal(res.status, 200, path);
    const csp = res.headers.get("content-security-policy") ?? "";
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
  }
  const html = await (await fetch(`${s.server.adminUrl}/dashboard`)).text();
  assert.doesNotMatch(html, /https?:\/\//, "nothing from another origin");
  assert.doesNotMatch(html, /<script>|style=/, "no inline script or style");
  const missing = await fetch(`${s.server.adminUrl}/dashboard/assets/..%2F..%2Fpackage.json`);
  assert.equal(missing.status, 404);
  // The public listener does not serve it.
  assert.equal((await call(`${s.server.url}/dashboard`, admin)).status, 404);
});

test("an admin key signs in for an HttpOnly, SameSite=Strict session cookie", async () => {
  const l = await login(admin);
  assert.equal(l.status, 200);
  assert.equal(l.json.role, "admin");
  assert.match(l.setCookie, /^bulwark_session=[A-Za-z0-9_-]{43};/);
  assert.match(l.setCookie, /HttpOnly/);
  assert.match(l.setCookie, /SameSite=Strict/);
  assert.doesNotMatch(l.setCookie, /Secure/, "plain HTTP: no Secure attribute");
  const session = await asPage(l, "/dashboard/api/session");
  assert.equal(session.json.authenticated, true);
  assert.equal(session.json.csrfToken, l.csrf);
  // The cookie reads the admin API like the key itself.
  assert.equal((await asPage(l, "/admin/keys")).status, 200);
  const none = await fetch(`${s.server.adminUrl}/dashboard/api/session`);
  assert.deepEqual(await none.json(), { authenticated: false });
  const audit = await call(`${s.server.adminUrl}/admin/audit`, admin);
  assert.ok(audit.json.data.some((e: any) => e.action === "dashboard.login"));
});

test("a user key cannot sign in; a wrong key is refused and audited", async () => {
  const u = await login(user.key);
  assert.equal(u.status, 403);
  assert.equal(u.json.error.code, "permission_denied");
  assert.equal(u.setCookie, "");
  const bad = await login("bwk_000000000000_" + "0".repeat(36));
  assert.equal(bad.status, 401);
  const audit = await call(`${s.server.adminUrl}/admin/audit`, admin);
  assert.ok(audit.json.data.some((e: any) => e.action === "dashboard.login_refused"));
});

test("an action without the CSRF token, or with a wrong one, is refused", async () => {
  const l = await login(admin);
  const ban = await call(`${s.server.adminUrl}/admin/bans`, admin, "POST", { ip: "203.0.113.9" });
  assert.equal(ban.status, 201);
  const without = await asPage(l, "/admin/bans/203.0.113.9", "DELETE", undefined, null);
  assert.equal(without.status, 403);
  assert.equal(without.json.error.code, "csrf_token_invalid");
  const wrong = await asPage(l, "/admin/bans/203.0.113.9", "DELETE", undefined, "x".repeat(43));
  assert.equal(wrong.json.error.code, "csrf_token_invalid");
  const other = await login(admin);
  const crossed = await asPage(l, "/admin/bans/203.0.113.9", "DELETE", undefined, other.csrf);
  assert.equal(crossed.status, 403, "another session's token does not do");
  const lifted = await asPage(l, "/admin/bans/203.0.113.9", "DELETE");
  assert.equal(lifted.status, 200, lifted.text);
});

test("an auditor sees every page's data but each action answers 403", async () => {
  const l = await login(auditor.key);
  assert.equal(l.status, 200);
  for (const path of [
    "/dashboard/api/usage",
    "/dashboard/api/audit",
    "/admin/audit/verify",
    "/admin/bans",
    "/admin/keys",
  ]) {
    assert.equal((await asPage(l, path)).status, 200, path);
  }
  const actions: [string, string, unknown?][] = [
    ["POST", `/admin/serving/${MODEL}/unload`, {}],
    ["POST", `/admin/serving/${MODEL}/reload`, {}],
    ["POST", "/admin/models/m/promote", { version: "1" }],
    ["POST", "/admin/models/m/rollback", {}],
    ["POST", `/admin/keys/${user.id}/revoke`, {}],
    ["DELETE", "/admin/bans/203.0.113.10"],
  ];
  for (const [method, path, body] of actions) {
    const r = await asPage(l, path, method, body);
    assert.equal(r.status, 403, `${method} ${path}: ${r.text}`);
    assert.equal(r.json.error.code, "permission_denied");
  }
});

test("an operator unloads and reloads a model; both are audited with the operator as actor", async () => {
  const l = await login(operator.key);
  const unloaded = await asPage(l, `/admin/serving/${MODEL}/unload`, "POST", {});
  assert.equal(unloaded.status, 200, unloaded.text);
  assert.equal(unloaded.json.unloaded, true);
  assert.ok(
    await waitFor(async () => {
      const h = await call(`${s.server.url}/health`, admin);
      return h.json.models?.[0]?.unloaded === true;
    }),
  );
  const reloaded = await asPage(l, `/admin/serving/${MODEL}/reload`, "POST", {});
  assert.equal(reloaded.status, 200, reloaded.text);
  assert.ok(await waitFor(async () => (await fetch(`${s.server.url}/readyz`)).status === 200));
  const entries = (await call(`${s.server.adminUrl}/admin/audit`, admin)).json.data as any[];
  for (const action of ["model.unloaded", "model.reloaded"]) {
    const e = entries.find((x) => x.action === action);
    assert.ok(e, action);
    assert.equal(e.actor, operator.id);
    assert.equal(e.target, MODEL);
  }
  const unknown = await asPage(l, "/admin/serving/nope/unload", "POST", {});
  assert.equal(unknown.status, 404);
});

test("a revoked key's session ends at once; logout ends a session", async () => {
  const victim = await s.createKey({ name: "temp-auditor", role: "auditor" });
  const l = await login(victim.key);
  assert.equal((await asPage(l, "/admin/bans")).status, 200);
  assert.equal(
    (await call(`${s.server.adminUrl}/admin/keys/${victim.id}/revoke`, admin, "POST", {})).status,
    200,
  );
  const after = await asPage(l, "/admin/bans");
  assert.equal(after.status, 401);
  const a = await login(admin);
  assert.equal((await asPage(a, "/dashboard/logout", "POST", {})).status, 200);
  assert.equal((await asPage(a, "/dashboard/api/session")).json.authenticated, false);
});

test("usage per key is paged on the server from the per-minute rollups", async () => {
  const keys = [
    await s.createKey({ name: "u1", role: "user" }),
    await s.createKey({ name: "u2", role: "user" }),
    await s.createKey({ name: "u3", role: "user" }),
  ];
  for (const [i, k] of keys.entries()) {
    for (let n = 0; n <= i; n++) {
      const r = await call(
        `${s.server.url}/v1/chat/completions`,
        k.key,
        "POST",
        chatBody("hi", { max_tokens: 4 }),
      );
      assert.equal(r.status, 200, r.text);
    }
  }
  const l = await login(admin);
  const p1 = await asPage(l, "/dashboard/api/usage?window=hour&size=2&page=1");
  assert.equal(p1.status, 200, p1.text);
  assert.equal(p1.json.total, 3);
  assert.equal(p1.json.data.length, 2);
  assert.deepEqual(
    p1.json.data.map((u: any) => u.name),
    ["u3", "u2"],
    "most tokens first",
  );
  assert.equal(p1.json.data[0].requests, 3);
  const p2 = await asPage(l, "/dashboard/api/usage?window=day&size=2&page=2");
  assert.deepEqual(
    p2.json.data.map((u: any) => u.name),
    ["u1"],
  );
  const bad = await asPage(l, "/dashboard/api/usage?size=1000");
  assert.equal(bad.status, 400);
  assert.equal((await asPage(await login(operator.key), "/dashboard/api/audit")).status, 403);
});

test("the audit tail pages backwards from the newest entry", async () => {
  const l = await login(admin);
  const first = await asPage(l, "/dashboard/api/audit?limit=3");
  assert.equal(first.json.data.length, 3);
  const seqs = first.json.data.map((e: any) => e.seq);
  assert.ok(seqs[0] > seqs[1] && seqs[1] > seqs[2], "newest first");
  const older = await asPage(l, `/dashboard/api/audit?limit=3&before=${seqs[2]}`);
  assert.equal(older.json.data[0].seq, seqs[2] - 1);
});

test("the live feed sends the KPI history, then snapshots, over one SSE connection", async () => {
  const l = await login(auditor.key);
  const controller = new AbortController();
  const res = await fetch(`${s.server.adminUrl}/dashboard/events`, {
    headers: { cookie: l.cookie },
    signal: controller.signal,
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
  const reader = res.body!.getReader();
  let text = "";
  const decoder = new TextDecoder();
  while ((text.match(/event: snapshot/g) ?? []).length < 3) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value);
  }
  controller.abort();
  assert.match(text, /^event: history\ndata: \[/);
  const snapshot = JSON.parse(/event: snapshot\ndata: (.*)\n/.exec(text)![1]!);
  assert.deepEqual(
    snapshot.kpis.targets.map((t: any) => t.key),
    ["memory", "cpu", "p95", "errors", "availability", "tokensPerSecond", "cacheHit", "modelLoad"],
  );
  assert.equal(snapshot.kpis.targets[0].max, 80);
  assert.equal(snapshot.models[0].name, MODEL);
  assert.ok(Array.isArray(snapshot.alerts.all));
  // Without a session or a key there is no feed.
  assert.equal((await fetch(`${s.server.adminUrl}/dashboard/events`)).status, 401);
});
