/**
 * The OWASP API Security Top 10 (2023) checks that apply to Bulwark, against a real server
 * with auth on (fake engine). Files, batches and the response cache's per-tenant entries are
 * not in this build; their object-level checks belong with them.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { call, chatBody, MODEL, startSecureServer, type SecureServer } from "../helpers/access.js";
import { isOpenAiError } from "../helpers/raw-http.js";

let s: SecureServer;
let user: { key: string; id: string };
let other: { key: string; id: string };
let auditor: { key: string; id: string };
let operator: { key: string; id: string };
const pub = (p: string) => `${s.server.url}${p}`;
const adm = (p: string) => `${s.server.adminUrl}${p}`;

before(async () => {
  s = await startSecureServer({ server: { bodyLimit: 64 * 1024 }, limits: { maxTokens: 64 } });
  user = await s.createKey({ name: "user", role: "user" });
  other = await s.createKey({ name: "other", role: "user" });
  auditor = await s.createKey({ name: "aud", role: "auditor" });
  operator = await s.createKey({ name: "op", role: "operator" });
});
after(() => s.close());

test("API1 object-level authorization: a key reads only its own usage", async () => {
  assert.equal(
    (await call(pub("/v1/chat/completions"), other.key, "POST", chatBody())).status,
    200,
  );
  const own = await call(pub("/v1/usage"), user.key);
  assert.equal(own.status, 200);
  assert.ok(!own.text.includes(other.id), "own usage shows another key");
  for (const url of [pub(`/v1/usage?key=${other.id}`), adm(`/admin/usage?key=${other.id}`)]) {
    const res = await call(url, user.key);
    assert.equal(res.status, 403, url);
    assert.ok(!res.text.includes("prompt_tokens"), "refusal carries data");
  }
  // Another key's lifecycle is out of reach for a user key.
  for (const action of ["revoke", "rotate"]) {
    const res = await call(adm(`/admin/keys/${other.id}/${action}`), user.key, "POST");
    assert.equal(res.status, 403, action);
  }
});

test("API2 broken authentication: missing, malformed, wrong, revoked keys are 401", async () => {
  const doomed = await s.createKey({ name: "doomed", role: "user" });
  assert.equal(
    (await call(adm(`/admin/keys/${doomed.id}/revoke`), s.adminKey, "POST")).status,
    200,
  );
  for (const key of [undefined, "bwk_", "sk-123", tamperedKey(user.key), doomed.key]) {
    const res = await call(pub("/v1/models"), key);
    assert.equal(res.status, 401, String(key));
    assert.ok(isOpenAiError(res.text));
  }
  // The admin listener always needs a key, and says nothing more without one.
  const res = await call(adm("/admin/keys"), undefined);
  assert.equal(res.status, 401);
});

test("API3 property-level exposure: no secret or digest is ever listed; mass assignment refused", async () => {
  const list = await call(adm("/admin/keys"), s.adminKey);
  assert.equal(list.status, 200);
  for (const k of [s.adminKey, user.key, other.key]) assert.ok(!list.text.includes(k));
  assert.ok(!/digest|secret/i.test(list.text), "a digest or secret field is listed");
  for (const extra of [
    { id: "aaaaaaaaaaaa" },
    { digest: "00" },
    { createdAt: 1 },
    { revokedAt: null },
    { lastUsedAt: 1 },
  ]) {
    const res = await call(adm("/admin/keys"), s.adminKey, "POST", {
      name: "m",
      role: "user",
      ...extra,
    });
    assert.equal(res.status, 400, JSON.stringify(extra));
    assert.equal(res.json.error.code, "invalid_request");
  }
  const patch = await call(adm(`/admin/keys/${user.id}`), s.adminKey, "PATCH", {
    role: "user",
    models: [],
  });
  assert.equal(patch.status, 400, patch.text);
});

test("API4 unrestricted resource consumption: bodies, tokens and request rates are bounded", async () => {
  const big = await call(
    pub("/v1/chat/completions"),
    user.key,
    "POST",
    chatBody("x".repeat(70_000)),
  );
  assert.equal(big.status, 413);
  const many = await call(
    pub("/v1/chat/completions"),
    user.key,
    "POST",
    chatBody("hi", { max_tokens: 1e9 }),
  );
  assert.equal(many.status, 400);
  const limited = await s.createKey({ name: "slow", role: "user", rpm: 2 });
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) statuses.push((await call(pub("/v1/models"), limited.key)).status);
  assert.deepEqual(statuses, [200, 200, 429, 429]);
});

test("API5 function-level authorization: each role reaches only its functions", async () => {
  const adminOnly: [string, string, unknown?][] = [
    ["GET", "/admin/models"],
    ["POST", "/admin/models/import", { path: "/etc/passwd", name: "x" }],
    ["DELETE", "/admin/models/x/1"],
    ["PATCH", `/admin/keys/${user.id}`, { role: "admin" }],
  ];
  for (const key of [user.key, auditor.key, operator.key]) {
    for (const [method, path, body] of adminOnly) {
      const res = await call(adm(path), key, method, body);
      assert.equal(res.status, 403, `${method} ${path}`);
      assert.equal(res.json.error.code, "permission_denied");
    }
  }
  // The auditor reads but never writes; the user reaches no admin route at all.
  assert.equal((await call(adm("/admin/audit"), auditor.key)).status, 200);
  const write = await call(adm("/admin/keys"), auditor.key, "POST", { name: "a", role: "user" });
  assert.equal(write.status, 403);
  for (const path of [
    "/admin/keys",
    "/admin/bans",
    "/admin/audit",
    "/admin/usage",
    "/admin/alerts",
  ]) {
    assert.equal((await call(adm(path), user.key)).status, 403, path);
  }
  assert.equal((await call(pub("/metrics"), user.key)).status, 403);
  assert.equal((await call(pub("/%6detrics"), user.key)).status, 403);
});

test("API7 SSRF and local files: admin import reads no file it cannot use, and says nothing of its content", async () => {
  for (const path of [
    "/etc/passwd",
    "/proc/self/environ",
    "http://169.254.169.254/latest/meta-data/",
  ]) {
    const res = await call(adm("/admin/models/import"), s.adminKey, "POST", { path, name: "ssrf" });
    assert.ok(res.status === 400, `${path}: ${res.status}`);
    assert.ok(!/root:x:0:0|PATH=|ami-id/.test(res.text), `${path} leaked content`);
  }
});

test("API8 security misconfiguration: no framework banner, no stack, JSON errors everywhere", async () => {
  const res = await fetch(pub("/nope"), { headers: { authorization: `Bearer ${user.key}` } });
  assert.equal(res.status, 404);
  assert.equal(res.headers.get("x-powered-by"), null);
  assert.equal(res.headers.get("server"), null);
  const text = await res.text();
  assert.ok(isOpenAiError(text));
  assert.doesNotMatch(text, /\n\s+at |node_modules|\/src\//);
});

test("API9 inventory: admin routes are not served on the public listener; unknown routes say 404", async () => {
  for (const path of ["/admin/keys", "/admin/bans", "/admin/audit", "/admin/models"]) {
    const res = await call(pub(path), s.adminKey);
    assert.equal(res.status, 404, path);
    assert.equal(res.json.error.code, "not_found");
  }
  const v2 = await call(pub("/v2/chat/completions"), user.key, "POST", chatBody());
  assert.equal(v2.status, 404);
});

test("a model named __proto__ cannot pollute the server's prototypes through usage reports", async () => {
  const res = await call(pub("/v1/chat/completions"), user.key, "POST", {
    ...chatBody(),
    model: "__proto__",
  });
  assert.equal(res.status, 404);
  assert.equal((await call(pub("/v1/usage"), user.key)).status, 200);
  assert.equal((await call(adm("/admin/usage"), s.adminKey)).status, 200);
  assert.equal(({} as Record<string, unknown>).requests, undefined);
  // Still serving: a metrics update after the report used to throw and stop the process.
  const ok = await call(pub("/v1/chat/completions"), user.key, "POST", chatBody());
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.model, MODEL);
});

test("API3: revoking, rotating or re-roling a key answers without its digests", async () => {
  const k = await s.createKey({ name: "d", role: "user" });
  const answers = [
    await call(adm(`/admin/keys/${k.id}`), s.adminKey, "PATCH", { role: "auditor" }),
    await call(adm(`/admin/keys/${k.id}/rotate`), s.adminKey, "POST"),
    await call(adm(`/admin/keys/${k.id}/revoke`), s.adminKey, "POST"),
  ];
  for (const res of answers) {
    assert.equal(res.status, 200, res.text);
    assert.ok(!/digest/i.test(res.text), res.text);
  }
});

/** The key with its last character changed: always a different key (a fixed "0" is not, when the
 * key already ends in "0"). */
function tamperedKey(key: string): string {
  return key.slice(0, -1) + (key.endsWith("0") ? "1" : "0");
}
