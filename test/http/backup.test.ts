import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { call, chatBody, MODEL, startSecureServer, type SecureServer } from "../helpers/access.js";
import { fakeEngine, startTestServer } from "../helpers/server.js";
import { restoreBackup } from "../../src/backup/index.js";
import { homeConfig, stateOf } from "../helpers/backup-home.js";
import { tempDir, tinyGguf } from "../helpers/model-files.js";

// Backups through the admin API, taken while clients send requests and create keys, and
// restored into a new home that then serves.
let s: SecureServer;
let root: string;
before(async () => {
  root = tempDir("bulwark-backup-http-");
  s = await startSecureServer({
    registry: { validateOnImport: "header", backupsToKeep: 0 },
    backup: { includeModels: true },
    rateLimits: { ipRpm: 0 },
  });
});
after(async () => {
  await s.close();
  rmSync(root, { recursive: true, force: true });
});

const admin = (path: string) => `${s.server.adminUrl}${path}`;

test("backups are for admins only, on the admin listener", async () => {
  const { key: operator } = await s.createKey({ name: "op", role: "operator" });
  const { key: auditor } = await s.createKey({ name: "au", role: "auditor" });
  const { key: user } = await s.createKey({ name: "u", role: "user" });
  for (const key of [operator, auditor, user]) {
    for (const method of ["GET", "POST"]) {
      const refused = await call(admin("/admin/backups"), key, method);
      assert.equal(refused.status, 403, `${method} ${refused.text}`);
      assert.equal(refused.json.error.code, "permission_denied");
    }
  }
  assert.equal((await call(admin("/admin/backups"), undefined, "POST")).status, 401);
  assert.equal((await call(`${s.server.url}/admin/backups`, s.adminKey, "POST")).status, 404);
  const bad = await call(admin("/admin/backups"), s.adminKey, "POST", { to: "/tmp/x" });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.code, "invalid_request");
});

test("a backup under load restores every key, ban, usage row, version and audit entry", async () => {
  const gguf = join(root, "tiny.gguf");
  writeFileSync(gguf, tinyGguf());
  const imported = await call(admin("/admin/models/import"), s.adminKey, "POST", {
    path: gguf,
    name: "tiny",
  });
  assert.equal(imported.status, 201, imported.text);
  const { key: userKey, id: userId } = await s.createKey({ name: "steady", role: "user" });
  const ban = await call(admin("/admin/bans"), s.adminKey, "POST", { ip: "203.0.113.7" });
  assert.equal(ban.status, 201);

  // The load: chat requests with one key, and new keys, until the backup is taken.
  let loading = true;
  const keysBefore = new Set<string>();
  let requests = 0;
  const clients = [
    (async () => {
      for (let i = 0; loading && i < 2000; i++) {
        const res = await call(`${s.server.url}/v1/chat/completions`, userKey, "POST", chatBody());
        assert.equal(res.status, 200, res.text);
        requests++;
      }
    })(),
    (async () => {
      for (let i = 0; loading && i < 500; i++) {
        const made = await s.createKey({ name: `load-${i}`, role: "user" });
        keysBefore.add(made.id);
      }
    })(),
  ];
  while (requests < 20 || keysBefore.size < 5) await new Promise((r) => setTimeout(r, 10));
  const knownKeys = new Set(keysBefore);
  const taken = await call(admin("/admin/backups"), s.adminKey, "POST");
  loading = false;
  await Promise.all(clients);
  assert.equal(taken.status, 201, taken.text);
  const id = taken.json.id as string;
  assert.equal(taken.json.models, 1);

  const listed = await call(admin("/admin/backups"), s.adminKey);
  assert.deepEqual(
    listed.json.data.map((b: { id: string }) => b.id),
    [id],
  );
  const audit = await call(admin("/admin/audit"), s.adminKey);
  const entry = audit.json.data.find((e: { action: string }) => e.action === "backup.created");
  assert.equal(entry.target, id);
  assert.notEqual(entry.actor, "unknown");
  const metrics = await call(`${s.server.url}/metrics`, s.adminKey);
  assert.match(metrics.text, /bulwark_backup_last_success_timestamp_seconds \d/);
  assert.match(metrics.text, /bulwark_backup_runs_total\{outcome="success"\} 1/);

  const live = stateOf(homeConfig(s.server.home));
  const target = join(root, "restored");
  await restoreBackup({ dir: join(s.server.home, "backups"), id, home: target });
  const restored = stateOf(homeConfig(target));

  // Up to the snapshot: the audit chain is a prefix of the live one and verifies.
  assert.equal(restored.auditVerify.ok, true);
  assert.ok(restored.audit.length > 0);
  assert.deepEqual(restored.audit, live.audit.slice(0, restored.audit.length));
  const restoredIds = new Set(restored.keys.map((k) => k.id));
  for (const keyId of [...knownKeys, userId]) assert.ok(restoredIds.has(keyId), keyId);
  for (const k of restored.keys) {
    const now = live.keys.find((l) => l.id === k.id);
    assert.ok(now, `restored key ${k.id} exists live`);
    assert.equal(k.role, now.role);
    // Every key created is audited: the restored keys are exactly those of the restored chain.
    const created = restored.audit.filter((e) => e.action === "key.created" && e.target === k.id);
    assert.equal(created.length, 1, k.id);
  }
  assert.ok(restored.bans.some((b) => b.ip === "203.0.113.7"));
  const usage = restored.usage.find((u) => u.keyId === userId);
  assert.ok(usage && usage.requests > 0);
  for (const u of restored.usage) {
    const now = live.usage.find(
      (l) => l.keyId === u.keyId && l.model === u.model && l.day === u.day,
    );
    assert.ok(now && now.requests >= u.requests);
  }
  assert.deepEqual(
    restored.registry.map((v) => [v.name, v.version, v.sha256]),
    live.registry.map((v) => [v.name, v.version, v.sha256]),
  );

  // The restored home serves: a key from before the backup works there.
  const engine = fakeEngine();
  const second = await startTestServer(
    { home: target, models: [{ name: MODEL, path: "/models/fake.gguf" }] },
    { replicaFactory: engine.factory, auth: true },
  );
  try {
    const res = await call(`${second.url}/v1/chat/completions`, userKey, "POST", chatBody());
    assert.equal(res.status, 200, res.text);
    const adminList = await call(`${second.adminUrl}/admin/keys`, s.adminKey);
    assert.equal(adminList.status, 200);
  } finally {
    await second.close();
  }
});

test("the server runs backup.schedule: runs are listed, counted and pruned to the retention", async () => {
  const scheduled = await startSecureServer({
    backup: { includeModels: false, schedule: { intervalMs: 150, keep: 2 } },
    alerts: { evaluateIntervalMs: 50 },
  });
  try {
    const admin = (path: string) => `${scheduled.server.adminUrl}${path}`;
    const runs = async () => {
      const m = await call(`${scheduled.server.url}/metrics`, scheduled.adminKey);
      return Number(/bulwark_backup_runs_total\{outcome="success"\} (\d+)/.exec(m.text)?.[1] ?? 0);
    };
    const deadline = Date.now() + 30_000;
    while ((await runs()) < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok((await runs()) >= 3, "three scheduled runs");
    const listed = await call(admin("/admin/backups"), scheduled.adminKey);
    assert.ok(listed.json.data.length >= 1 && listed.json.data.length <= 2, listed.text);
    const alerts = await call(admin("/admin/alerts"), scheduled.adminKey);
    const stale = alerts.json.alerts.find((a: { alert: string }) => a.alert === "backup_stale");
    // Whether it fires depends on how long each run takes here (the unit tests judge it).
    assert.ok(stale, "backup_stale is one of the server's alerts");
    const audit = await call(admin("/admin/audit"), scheduled.adminKey);
    assert.ok(
      audit.json.data.some(
        (e: { action: string; actor: string }) =>
          e.action === "backup.created" && e.actor === "system",
      ),
    );
  } finally {
    await scheduled.close();
  }
});
