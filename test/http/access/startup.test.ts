import { test } from "node:test";
import assert from "node:assert/strict";
import { generateKey } from "../../../src/auth/index.js";
import { fakeEngine, startTestServer } from "../../helpers/server.js";
import { call, MODEL } from "../../helpers/access.js";

const models = [{ name: MODEL, path: "/m.gguf" }];

test("auth off on a non-loopback address is refused unless insecure", async () => {
  await assert.rejects(
    startTestServer(
      { models, server: { host: "0.0.0.0" }, security: { auth: false } },
      { replicaFactory: fakeEngine().factory },
    ),
    /security\.auth: .*--insecure/s,
  );
  const insecure = await startTestServer(
    { models, server: { host: "0.0.0.0" }, security: { auth: false } },
    { replicaFactory: fakeEngine().factory, insecure: true },
  );
  try {
    const port = new URL(insecure.url).port;
    assert.equal((await call(`http://127.0.0.1:${port}/v1/models`, undefined)).status, 200);
  } finally {
    await insecure.close();
  }
});

test("the first start without keys says how to make one; BULWARK_ADMIN_KEY becomes the admin key", async () => {
  const bare = await startTestServer(
    { models },
    { replicaFactory: fakeEngine().factory, auth: true },
  );
  try {
    const hint = bare.logs.find((l) => String(l.msg).includes("no API keys yet"));
    assert.ok(hint, "a hint is logged");
    assert.match(String(hint.msg), /bulwark keys create --name admin --role admin/);
    assert.equal((await call(`${bare.url}/v1/models`, undefined)).status, 401);
  } finally {
    await bare.close();
  }
  const adminKey = generateKey().full;
  const seeded = await startTestServer(
    { models },
    { replicaFactory: fakeEngine().factory, auth: true, adminKey },
  );
  try {
    assert.equal((await call(`${seeded.url}/v1/models`, adminKey)).status, 200);
    const keys = await call(`${seeded.adminUrl}/admin/keys`, adminKey);
    assert.equal(keys.json.data[0].name, "bootstrap-admin");
    assert.equal(keys.json.data[0].role, "admin");
  } finally {
    await seeded.close();
  }
  await assert.rejects(
    startTestServer(
      { models },
      { replicaFactory: fakeEngine().factory, auth: true, adminKey: "hunter2" },
    ),
    /BULWARK_ADMIN_KEY is not a Bulwark key/,
  );
});

test("/metrics needs a key with metrics.read unless the config opens it", async () => {
  const adminKey = generateKey().full;
  const closed = await startTestServer(
    { models },
    { replicaFactory: fakeEngine().factory, auth: true, adminKey },
  );
  try {
    assert.equal((await call(`${closed.url}/metrics`, undefined)).status, 401);
    const user = await call(`${closed.adminUrl}/admin/keys`, adminKey, "POST", {
      name: "u",
      role: "user",
    });
    const denied = await call(`${closed.url}/metrics`, user.json.key);
    assert.equal(denied.status, 403);
    assert.equal(denied.json.error.code, "permission_denied");
    const ok = await call(`${closed.url}/metrics`, adminKey);
    assert.equal(ok.status, 200);
    assert.match(ok.text, /^# (HELP|TYPE) /m);
  } finally {
    await closed.close();
  }
  const open = await startTestServer(
    { models, security: { metricsPublic: true } },
    { replicaFactory: fakeEngine().factory, auth: true, adminKey: generateKey().full },
  );
  try {
    const res = await call(`${open.url}/metrics`, undefined);
    assert.equal(res.status, 200);
    assert.match(res.text, /^# (HELP|TYPE) /m);
    assert.equal((await call(`${open.url}/health`, undefined)).status, 401, "only /metrics opens");
  } finally {
    await open.close();
  }
});
