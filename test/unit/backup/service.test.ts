import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { BackupService, loadDataKey } from "../../../src/backup/index.js";
import { registryDir } from "../../../src/registry/index.js";
import { silentLogger } from "../../../src/observability/index.js";
import type { BulwarkError } from "../../../src/errors/index.js";
import { homeConfig, statefulHome } from "../../helpers/backup-home.js";
import { tempDir } from "../../helpers/model-files.js";

function until(check: () => boolean, timeoutMs = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      if (check()) resolve();
      else if (Date.now() - started > timeoutMs) reject(new Error("timed out waiting"));
      else setTimeout(tick, 20);
    };
    tick();
  });
}

test("the schedule takes backups, prunes to its retention, reports each run", async (t) => {
  const h = await statefulHome();
  const config = homeConfig(h.home, {
    backup: { includeModels: false, schedule: { intervalMs: 100, keep: 2 } },
  });
  const runs: { ok: boolean; bytes: number }[] = [];
  const audited: string[] = [];
  const service = new BackupService({
    config,
    registryDir: registryDir(config),
    logger: silentLogger(),
    observer: { backupRun: (o) => runs.push(o), backupStale: () => undefined },
    audit: (_actor, action) => audited.push(action),
  });
  t.after(async () => {
    await service.close();
    h.close();
    rmSync(h.root, { recursive: true, force: true });
  });
  service.start();
  await until(() => runs.length >= 4);
  await service.close();
  assert.ok(runs.every((r) => r.ok && r.bytes > 0));
  assert.ok(audited.length >= 3 && audited.every((a) => a === "backup.created"));
  assert.ok(service.list().backups.length <= 2, "pruned to keep: 2");
});

test("one backup at a time: a second request while one runs is refused", async (t) => {
  const h = await statefulHome();
  const service = new BackupService({
    config: h.config,
    registryDir: registryDir(h.config),
    logger: silentLogger(),
  });
  t.after(async () => {
    await service.close();
    h.close();
    rmSync(h.root, { recursive: true, force: true });
  });
  const first = service.create("admin");
  assert.throws(
    () => service.create("admin"),
    (e: BulwarkError) => e.code === "backup_in_progress",
  );
  await first;
  await service.create("admin");
  assert.equal(service.list().backups.length, 2);
});

test("backup_stale fires when no backup succeeds for twice the interval", async (t) => {
  const root = tempDir("bulwark-stale-");
  const home = join(root, "home");
  mkdirSync(home);
  // A backup folder that cannot be created: every run fails.
  writeFileSync(join(root, "not-a-folder"), "");
  const config = homeConfig(home, {
    backup: { dir: join(root, "not-a-folder", "backups"), schedule: { intervalMs: 50, keep: 1 } },
  });
  const stale: boolean[] = [];
  const runs: boolean[] = [];
  const service = new BackupService({
    config,
    registryDir: registryDir(config),
    logger: silentLogger(),
    observer: { backupRun: (o) => runs.push(o.ok), backupStale: (s) => stale.push(s) },
  });
  t.after(async () => {
    await service.close();
    rmSync(root, { recursive: true, force: true });
  });
  service.start();
  assert.equal(stale[0], false, "a fresh server is not stale");
  await until(() => stale.includes(true));
  assert.ok(runs.length > 0 && runs.every((ok) => !ok));
});

test("the data key: hex, base64 or raw bytes in a file; a bad one is refused", (t) => {
  const root = tempDir("bulwark-key-");
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const raw = randomBytes(32);
  const file = join(root, "key");
  writeFileSync(file, raw);
  chmodSync(file, 0o600);
  const fromFile = loadDataKey({ BULWARK_DATA_KEY_FILE: file });
  assert.deepEqual(fromFile?.key, raw);
  assert.equal(loadDataKey({ BULWARK_DATA_KEY: raw.toString("hex") })?.id, fromFile?.id);
  assert.equal(loadDataKey({ BULWARK_DATA_KEY: raw.toString("base64") })?.id, fromFile?.id);
  assert.equal(loadDataKey({}), undefined);
  assert.throws(
    () => loadDataKey({ BULWARK_DATA_KEY: "short" }),
    (e: BulwarkError) => e.code === "backup_key_unavailable" && !e.message.includes("short"),
  );
});

test("with backup.encrypt and no data key the server's backups refuse to start", async (t) => {
  const root = tempDir("bulwark-nokey-");
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const config = homeConfig(join(root, "home"), { backup: { encrypt: true } });
  const saved = { file: process.env.BULWARK_DATA_KEY_FILE, key: process.env.BULWARK_DATA_KEY };
  delete process.env.BULWARK_DATA_KEY_FILE;
  delete process.env.BULWARK_DATA_KEY;
  try {
    assert.throws(
      () => new BackupService({ config, registryDir: registryDir(config), logger: silentLogger() }),
      (e: BulwarkError) => e.code === "backup_key_unavailable",
    );
  } finally {
    if (saved.file !== undefined) process.env.BULWARK_DATA_KEY_FILE = saved.file;
    if (saved.key !== undefined) process.env.BULWARK_DATA_KEY = saved.key;
  }
});
