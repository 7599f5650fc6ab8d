import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { call, startSecureServer, type SecureServer } from "../../helpers/access.js";
import { STORIES_MISSING, storiesModel } from "../../helpers/paths.js";

// The registry's and the guard's admin routes, mounted by main.ts on the admin listener: reached
// there with the right role, never through the public listener.
let s: SecureServer;
before(async () => {
  s = await startSecureServer({ registry: { validateOnImport: "header" } });
});
after(() => s.close());

const admin = (path: string) => `${s.server.adminUrl}${path}`;

test("registry routes answer on the admin listener with an admin key, not on the public one", async () => {
  const list = await call(admin("/admin/models"), s.adminKey);
  assert.equal(list.status, 200);
  assert.equal(list.json.object, "list");
  assert.deepEqual(list.json.data, []);

  const publicSide = await call(`${s.server.url}/admin/models`, s.adminKey);
  assert.equal(publicSide.status, 404);

  const { key: user } = await s.createKey({ name: "u", role: "user" });
  const refused = await call(admin("/admin/models"), user);
  assert.equal(refused.status, 403);
  assert.equal(refused.json.error.code, "permission_denied");
  assert.equal((await call(admin("/admin/models"), undefined)).status, 401);
});

test("an import through the admin listener registers the model", async (t) => {
  const model = storiesModel();
  if (!model) return t.skip(STORIES_MISSING);
  const res = await call(admin("/admin/models/import"), s.adminKey, "POST", {
    path: model,
    name: "stories",
    version: "1",
  });
  assert.equal(res.status, 201, res.text);
  assert.equal(res.json.name, "stories");
  assert.match(res.json.sha256, /^[0-9a-f]{64}$/);
  const list = await call(admin("/admin/models"), s.adminKey);
  assert.ok(list.json.data.some((m: any) => m.name === "stories"));
  const again = await call(admin("/admin/models/import"), s.adminKey, "POST", {
    path: model,
    name: "stories",
    version: "1",
  });
  assert.equal(again.status, 409);
  assert.equal(again.json.error.code, "registry_version_exists");

  // Model changes through the admin API are security events: audited once each, with the key.
  const promoted = await call(admin("/admin/models/stories/promote"), s.adminKey, "POST", {
    version: "1",
  });
  assert.equal(promoted.status, 200, promoted.text);
  const audit = await call(admin("/admin/audit"), s.adminKey);
  const models = audit.json.data.filter((e: any) => e.action.startsWith("model."));
  assert.deepEqual(
    models.map((e: any) => [e.action, e.target]),
    [
      ["model.imported", "stories"],
      ["model.promoted", "stories"],
    ],
  );
  const adminId = s.adminKey.split("_")[1];
  assert.ok(models.every((e: any) => e.actor === adminId));
  const verified = await call(admin("/admin/audit/verify"), s.adminKey);
  assert.equal(verified.json.ok, true);
});

test("guard and alert routes are open to operators, closed to users", async () => {
  const { key: operator } = await s.createKey({ name: "op", role: "operator" });
  const alerts = await call(admin("/admin/alerts"), operator);
  assert.equal(alerts.status, 200);
  assert.ok(Array.isArray(alerts.json.firing));
  const guards = await call(admin("/admin/guards"), operator);
  assert.equal(guards.status, 200);
  assert.equal(guards.json.enabled, true);
  const { key: user } = await s.createKey({ name: "u2", role: "user" });
  assert.equal((await call(admin("/admin/alerts"), user)).status, 403);
});
