import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  call,
  chatBody,
  MODEL,
  startSecureServer,
  type SecureServer,
} from "../../helpers/access.js";

let s: SecureServer;
before(async () => {
  s = await startSecureServer();
});
after(() => s.close());

const url = (path: string) => `${s.server.url}${path}`;
const admin = (path: string) => `${s.server.adminUrl}${path}`;

test("every route but /livez and /readyz needs a key: 401 missing_api_key", async () => {
  const routes: [string, string, unknown?][] = [
    ["GET", "/v1/models"],
    ["GET", `/v1/models/${MODEL}`],
    ["GET", "/health"],
    ["GET", "/metrics"],
    ["GET", "/v1/usage"],
    ["POST", "/v1/chat/completions", chatBody()],
    ["POST", "/v1/completions", { model: MODEL, prompt: "x" }],
    ["POST", "/v1/embeddings", { model: MODEL, input: "x" }],
    ["POST", "/tokenize", { model: MODEL, prompt: "x" }],
    ["POST", "/detokenize", { model: MODEL, tokens: [5] }],
    ["GET", "/no/such/route"],
  ];
  for (const [method, path, body] of routes) {
    const res = await call(url(path), undefined, method, body);
    assert.equal(res.status, 401, `${method} ${path}`);
    assert.equal(res.json.error.code, "missing_api_key");
    assert.equal(res.json.error.type, "authentication_error");
  }
  assert.equal((await call(url("/livez"), undefined)).status, 200);
  assert.notEqual((await call(url("/readyz"), undefined)).status, 401);
  for (const path of ["/admin/keys", "/admin/bans", "/admin/usage", "/admin/audit"]) {
    const res = await call(admin(path), undefined);
    assert.equal(res.status, 401, path);
  }
});

test("malformed keys, bad checksums and unknown ids are 401 invalid_api_key", async () => {
  const { key } = await s.createKey({ name: "probe", role: "user" });
  const last = key.at(-1) === "A" ? "B" : "A";
  const typo = key.slice(0, -1) + last; // fails the checksum
  const unknown = key.replace(/^bwk_[0-9a-z]{12}/, "bwk_000000000000");
  for (const bad of ["nonsense", "bwk_short", typo, unknown]) {
    const res = await call(url("/v1/models"), bad);
    assert.equal(res.status, 401, bad);
    assert.equal(res.json.error.code, "invalid_api_key");
  }
  // x-api-key is accepted as well as Authorization: Bearer.
  const viaHeader = await call(url("/v1/models"), undefined, "GET", undefined, {
    "x-api-key": key,
  });
  assert.equal(viaHeader.status, 200);
});

test("roles: a user may generate, an auditor may not; a user may not use the admin API", async () => {
  const user = await s.createKey({ name: "u", role: "user" });
  const auditor = await s.createKey({ name: "a", role: "auditor" });
  const ok = await call(url("/v1/chat/completions"), user.key, "POST", chatBody());
  assert.equal(ok.status, 200, ok.text);
  const denied = await call(url("/v1/chat/completions"), auditor.key, "POST", chatBody());
  assert.equal(denied.status, 403);
  assert.equal(denied.json.error.code, "permission_denied");
  assert.equal((await call(url("/v1/models"), auditor.key)).status, 200);
  const adminByUser = await call(admin("/admin/keys"), user.key);
  assert.equal(adminByUser.status, 403);
  assert.equal(adminByUser.json.error.code, "permission_denied");
  assert.equal((await call(admin("/admin/audit"), auditor.key)).status, 200);
  assert.equal(
    (await call(admin("/admin/keys"), auditor.key, "POST", { name: "x", role: "user" })).status,
    403,
  );
  // Admin routes exist only on the admin listener.
  const onPublic = await call(url("/admin/keys"), s.adminKey);
  assert.equal(onPublic.status, 404);
  const audit = await call(admin("/admin/audit"), s.adminKey);
  assert.ok(audit.json.data.some((e: any) => e.action === "admin.auth_failed"));
});

test("an operator manages user keys but not admin keys", async () => {
  const op = await s.createKey({ name: "op", role: "operator" });
  const made = await call(admin("/admin/keys"), op.key, "POST", {
    name: "by-op",
    role: "user",
    rpm: 5,
  });
  assert.equal(made.status, 201, made.text);
  assert.match(made.json.key, /^bwk_/);
  const escalate = await call(admin("/admin/keys"), op.key, "POST", {
    name: "evil",
    role: "admin",
  });
  assert.equal(escalate.status, 403);
  const promote = await call(admin(`/admin/keys/${made.json.id}`), op.key, "PATCH", {
    role: "admin",
  });
  assert.equal(promote.status, 403);
  const list = await call(admin("/admin/keys"), op.key);
  assert.equal(list.status, 200);
  assert.ok(!list.text.includes(made.json.key), "lists never show a secret");
  assert.ok(!/digest/i.test(list.text));
  const bad = await call(admin("/admin/keys"), s.adminKey, "POST", { name: "x", role: "root" });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.param, "role");
});

test("a key's model list and IP allowlist are enforced", async () => {
  const narrow = await s.createKey({ name: "m", role: "user", models: ["other"] });
  const res = await call(url("/v1/chat/completions"), narrow.key, "POST", chatBody());
  // A served model outside the list is answered as an unknown one: 404, same message.
  assert.equal(res.status, 404);
  assert.equal(res.json.error.code, "model_not_found");
  const unknown = await call(url("/v1/chat/completions"), narrow.key, "POST", {
    ...chatBody(),
    model: "no-such-model",
  });
  assert.equal(unknown.status, 404);
  assert.equal(
    res.json.error.message.replace(MODEL, "M"),
    unknown.json.error.message.replace("no-such-model", "M"),
  );
  const health = await call(url("/health"), narrow.key);
  assert.equal(health.status, 200);
  assert.deepEqual(health.json.models, []);
  assert.ok(!health.text.includes(`"${MODEL}"`), "/health names a model outside the key's list");
  // The listing shows only the key's models; another model is 404, as if it did not exist.
  const listed = await call(url("/v1/models"), narrow.key);
  assert.equal(listed.status, 200);
  assert.deepEqual(listed.json.data, []);
  const one = await call(url(`/v1/models/${MODEL}`), narrow.key);
  assert.equal(one.status, 404);
  assert.equal(one.json.error.code, "model_not_found");
  const wide = await s.createKey({ name: "w", role: "user", models: [MODEL] });
  const all = await call(url("/v1/models"), wide.key);
  assert.deepEqual(
    all.json.data.map((m: any) => m.id),
    [MODEL],
  );
  assert.equal((await call(url(`/v1/models/${MODEL}`), wide.key)).status, 200);
  const remote = await s.createKey({
    name: "ip",
    role: "user",
    ips: ["10.0.0.0/8", "2001:db8::/32"],
  });
  const fromHere = await call(url("/v1/models"), remote.key);
  assert.equal(fromHere.status, 403);
  assert.equal(fromHere.json.error.code, "permission_denied");
});

test("expired and revoked keys are refused; a rotated key's old secret works for the grace period", async () => {
  const expired = await s.createKey({ name: "old", role: "user", expires: "2001-01-01T00:00:00Z" });
  const e = await call(url("/v1/models"), expired.key);
  assert.equal(e.status, 401);
  assert.equal(e.json.error.code, "key_expired");

  const doomed = await s.createKey({ name: "doomed", role: "user" });
  assert.equal((await call(url("/v1/models"), doomed.key)).status, 200);
  const revoke = await call(admin(`/admin/keys/${doomed.id}/revoke`), s.adminKey, "POST");
  assert.equal(revoke.status, 200);
  const r = await call(url("/v1/models"), doomed.key);
  assert.equal(r.status, 401);
  assert.equal(r.json.error.code, "key_revoked");

  const rotating = await s.createKey({ name: "rot", role: "user" });
  const rotated = await call(admin(`/admin/keys/${rotating.id}/rotate`), s.adminKey, "POST");
  assert.equal(rotated.status, 200);
  assert.equal(rotated.json.id, rotating.id);
  assert.notEqual(rotated.json.key, rotating.key);
  assert.equal((await call(url("/v1/models"), rotated.json.key)).status, 200);
  assert.equal((await call(url("/v1/models"), rotating.key)).status, 200, "grace period");
  const missing = await call(admin("/admin/keys/zzzzzzzzzzzz/revoke"), s.adminKey, "POST");
  assert.equal(missing.status, 404);
  assert.equal(missing.json.error.code, "key_not_found");
  const actions = (await call(admin("/admin/audit"), s.adminKey)).json.data.map(
    (x: any) => x.action,
  );
  for (const a of ["key.created", "key.revoked", "key.rotated", "server.started"]) {
    assert.ok(actions.includes(a), a);
  }
});

test("one key cannot read another key's usage (BOLA)", async () => {
  const alice = await s.createKey({ name: "alice", role: "user" });
  const bob = await s.createKey({ name: "bob", role: "user" });
  assert.equal(
    (await call(url("/v1/chat/completions"), alice.key, "POST", chatBody())).status,
    200,
  );
  assert.equal((await call(url("/v1/chat/completions"), bob.key, "POST", chatBody())).status, 200);
  // Usage rows are written when the response closes.
  await new Promise((r) => setTimeout(r, 50));
  const own = await call(url("/v1/usage"), alice.key);
  assert.equal(own.status, 200);
  assert.deepEqual(
    own.json.data.map((d: any) => d.key),
    [alice.id],
  );
  assert.equal(own.json.data[0].requests, 1);
  assert.ok(own.json.data[0].by_model[MODEL].total_tokens > 0);
  const other = await call(url(`/v1/usage?key=${bob.id}`), alice.key);
  assert.equal(other.status, 403);
  assert.equal(other.json.error.code, "permission_denied");
  assert.ok(!other.text.includes("requests"));
  const viaAdmin = await call(admin(`/admin/usage?key=${bob.id}`), alice.key);
  assert.equal(viaAdmin.status, 403);
  const byAdmin = await call(admin(`/admin/usage?key=${bob.id}`), s.adminKey);
  assert.equal(byAdmin.status, 200);
  assert.equal(byAdmin.json.data[0].key, bob.id);
});
