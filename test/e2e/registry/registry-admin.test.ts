import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { registerRegistryAdminRoutes } from "../../../src/registry/index.js";
import { buildBaseApp } from "../../../src/http/index.js";
import { silentLogger } from "../../../src/observability/index.js";
import { tempRegistry } from "../../helpers/registry.js";
import { STORIES_MISSING, storiesModel } from "../../helpers/paths.js";

const model = storiesModel();

async function adminApp(t: TestContext) {
  const r = tempRegistry(1);
  const app = buildBaseApp({
    logger: silentLogger(),
    component: "admin",
    requestLogComponent: "admin-access",
    bodyLimit: 1024 * 1024,
    forceCloseConnections: true,
  });
  registerRegistryAdminRoutes(app, { registry: r.registry, logger: silentLogger() });
  await app.ready();
  t.after(async () => {
    await app.close();
    r.cleanup();
  });
  const call = async (method: "GET" | "POST" | "DELETE", url: string, payload?: unknown) => {
    const res = await app.inject({ method, url, payload: payload as object });
    return { status: res.statusCode, body: res.json() };
  };
  return { r, call };
}

test("admin API: import, list, promote, rollback, verify, delete", async (t) => {
  if (!model) return t.skip(STORIES_MISSING);
  const { call } = await adminApp(t);
  let res = await call("POST", "/admin/models/import", { path: model, name: "s" });
  assert.equal(res.status, 201);
  assert.equal(res.body.version, "1");
  res = await call("POST", "/admin/models/import", { path: model, name: "s", version: "b" });
  assert.equal(res.status, 201);
  res = await call("GET", "/admin/models");
  assert.deepEqual(
    res.body.data.map((v: any) => [v.version, v.aliases]),
    [
      ["1", ["latest"]],
      ["b", []],
    ],
  );
  res = await call("POST", "/admin/models/s/promote", { version: "b" });
  assert.deepEqual(res.body, { name: "s", latest: "b" });
  res = await call("POST", "/admin/models/s/rollback");
  assert.deepEqual(res.body, { name: "s", latest: "1" });
  res = await call("POST", "/admin/models/verify", { ref: "s" });
  assert.equal(res.body.ok, true);
  assert.equal(res.body.results.length, 2);
  res = await call("DELETE", "/admin/models/s/1");
  assert.equal(res.status, 409);
  assert.equal(res.body.error.code, "registry_model_in_use");
  res = await call("DELETE", "/admin/models/s/b");
  assert.deepEqual(res.body, { deleted: "s:b" });
  res = await call("DELETE", "/admin/models/s/1?force=true");
  assert.equal(res.status, 200);
  assert.deepEqual((await call("GET", "/admin/models")).body.data, []);
});

test("admin API errors are catalog errors in OpenAI's shape", async (t) => {
  if (!model) return t.skip(STORIES_MISSING);
  const { r, call } = await adminApp(t);
  const junk = join(r.dir, "junk.gguf");
  writeFileSync(junk, "junk");
  const cases: [string, string, unknown, number, string][] = [
    ["POST", "/admin/models/import", { path: junk, name: "j" }, 400, "registry_invalid_model"],
    [
      "POST",
      "/admin/models/import",
      { path: "/nope.gguf", name: "j" },
      400,
      "registry_file_not_found",
    ],
    ["POST", "/admin/models/import", { path: model, name: "../x" }, 400, "registry_invalid_name"],
    ["POST", "/admin/models/import", { name: "x" }, 400, "invalid_request"],
    ["POST", "/admin/models/nobody/promote", { version: "1" }, 404, "registry_model_not_found"],
    ["POST", "/admin/models/nobody/rollback", undefined, 404, "registry_model_not_found"],
    ["DELETE", "/admin/models/nobody/1", undefined, 404, "registry_model_not_found"],
  ];
  for (const [method, url, payload, status, code] of cases) {
    const res = await call(method as "POST", url, payload);
    assert.equal(res.status, status, `${method} ${url}: ${JSON.stringify(res.body)}`);
    assert.equal(res.body.error.code, code);
    assert.equal(typeof res.body.error.message, "string");
  }
  await call("POST", "/admin/models/import", { path: model, name: "s" });
  const dup = await call("POST", "/admin/models/import", { path: model, name: "s", version: "1" });
  assert.equal(dup.status, 409);
  assert.equal(dup.body.error.code, "registry_version_exists");
  const none = await call("POST", "/admin/models/s/rollback");
  assert.equal(none.body.error.code, "registry_no_rollback");
});
