import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createHash, randomBytes } from "node:crypto";
import {
  createBackup,
  listBackups,
  pruneBackups,
  readManifest,
  restoreBackup,
  verifyBackup,
  type DataKey,
} from "../../../src/backup/index.js";
import { keyId } from "../../../src/backup/data-key.js";
import { walkFiles } from "../../../src/backup/files.js";
import { openRegistry, registryDir } from "../../../src/registry/index.js";
import type { BulwarkError } from "../../../src/errors/index.js";
import { flipByte } from "../../helpers/registry.js";
import { homeConfig, stateOf, statefulHome } from "../../helpers/backup-home.js";

async function backupOf(
  h: Awaited<ReturnType<typeof statefulHome>>,
  dir: string,
  extra: { includeModels?: boolean; key?: DataKey } = {},
) {
  return createBackup({
    home: h.home,
    registryDir: registryDir(h.config),
    dir,
    includeModels: extra.includeModels ?? true,
    key: extra.key,
    effectiveConfig: h.config,
  });
}

async function code(fn: () => Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await fn();
  } catch (err) {
    return { code: (err as BulwarkError).code, message: (err as Error).message };
  }
  return { code: "ok", message: "" };
}

test("create → verify → restore brings back keys, bans, usage, audit chain and registry", async (t) => {
  const h = await statefulHome();
  t.after(() => rmSync(h.root, { recursive: true, force: true }));
  const dir = join(h.root, "backups");
  const made = await backupOf(h, dir);
  h.close();
  const before = stateOf(h.config);

  const m = made.manifest;
  assert.equal(m.auditHead?.seq, before.audit.length);
  assert.equal(m.auditHead?.hash, before.audit.at(-1)!.hash);
  assert.ok(m.files.some((f) => f.path === "home/batches/batch_1.jsonl"));
  assert.ok(m.files.some((f) => f.path === "config/effective.json"));
  assert.equal(m.models.length, 2, "both versions, one blob");
  assert.equal(new Set(m.models.map((x) => x.blob)).size, 1);
  assert.deepEqual(
    walkFiles(made.path).sort(),
    [...m.files.map((f) => f.path), "MANIFEST.json", "MANIFEST.json.sha256", "SHA256SUMS"].sort(),
    "the backup holds exactly the files its manifest lists",
  );
  const sums = readFileSync(join(made.path, "SHA256SUMS"), "utf8");
  for (const f of m.files) assert.ok(sums.includes(`${f.sha256}  ${f.path}`));
  assert.deepEqual(
    listBackups(dir).backups.map((b) => b.id),
    [made.id],
  );
  assert.equal((await verifyBackup(dir, made.id)).ok, true);

  const target = join(h.root, "restored");
  const restored = await restoreBackup({ dir, id: made.id, home: target });
  assert.deepEqual(restored.modelsMissing, []);
  const after = stateOf(homeConfig(target));
  assert.deepEqual(after, before);
  assert.equal(after.auditVerify.ok, true);
  assert.equal(
    readFileSync(join(target, "batches", "batch_1.jsonl"), "utf8"),
    '{"custom_id":"a"}\n',
  );
  assert.ok(existsSync(join(target, "config", "effective.json")));
});

test("model files are kept once by digest: a second backup copies none again", async (t) => {
  const h = await statefulHome();
  t.after(() => {
    h.close();
    rmSync(h.root, { recursive: true, force: true });
  });
  const dir = join(h.root, "backups");
  const first = await backupOf(h, dir);
  const second = await backupOf(h, dir);
  const modelBytes = first.manifest.models[0]!.storedSize;
  assert.equal(
    first.manifest.bytesWritten - second.manifest.bytesWritten,
    modelBytes,
    "the second backup wrote the same files less the model blob",
  );
  assert.equal(readdirSync(join(dir, "blobs", "sha256")).length, 1);
});

test("one changed byte fails verify and restore, naming the file; nothing is restored", async (t) => {
  const h = await statefulHome();
  t.after(() => {
    h.close();
    rmSync(h.root, { recursive: true, force: true });
  });
  const dir = join(h.root, "backups");
  const made = await backupOf(h, dir);
  const target = join(h.root, "restored");
  for (const rel of [join(made.id, "home", "bulwark.db"), made.manifest.models[0]!.blob]) {
    flipByte(join(dir, rel), 100);
    const report = await verifyBackup(dir, made.id);
    assert.equal(report.ok, false);
    assert.equal(report.problems.length, 1);
    assert.match(report.problems[0]!, new RegExp(`^${rel.replace(/\//g, "\\/")}: sha256`));
    const refused = await code(() => restoreBackup({ dir, id: made.id, home: target }));
    assert.equal(refused.code, "backup_corrupted");
    assert.ok(refused.message.includes(rel), refused.message);
    assert.equal(existsSync(target), false, "nothing written");
    flipByte(join(dir, rel), 100);
  }
  // MANIFEST.json itself is checked against its own digest.
  const manifest = join(dir, made.id, "MANIFEST.json");
  writeFileSync(manifest, readFileSync(manifest, "utf8").replace('"format": 1', '"format": 2'));
  const report = await verifyBackup(dir, made.id);
  assert.match(report.problems.join("\n"), /MANIFEST\.json: sha256/);
});

test("restore refuses a home that is not empty unless forced", async (t) => {
  const h = await statefulHome();
  t.after(() => {
    h.close();
    rmSync(h.root, { recursive: true, force: true });
  });
  const dir = join(h.root, "backups");
  const made = await backupOf(h, dir, { includeModels: false });
  const target = join(h.root, "busy");
  mkdirSync(target);
  writeFileSync(join(target, "bulwark.db"), "not a database");
  writeFileSync(join(target, "bulwark.db-wal"), "an old WAL");
  const refused = await code(() => restoreBackup({ dir, id: made.id, home: target }));
  assert.equal(refused.code, "backup_target_not_empty");
  assert.equal(readFileSync(join(target, "bulwark.db"), "utf8"), "not a database");
  const forced = await restoreBackup({ dir, id: made.id, home: target, force: true });
  assert.equal(existsSync(join(target, "bulwark.db-wal")), false, "the old WAL is gone");
  assert.deepEqual(forced.modelsMissing, ["tiny:1", "tiny:2"]);
  assert.equal(stateOf(homeConfig(target)).keys.length, 2);
});

test("what a killed create left is not listed as a backup, and prune removes it", async (t) => {
  const h = await statefulHome();
  t.after(() => {
    h.close();
    rmSync(h.root, { recursive: true, force: true });
  });
  const dir = join(h.root, "backups");
  const made = await backupOf(h, dir);
  // A create killed halfway: its partial folder (of a process that no longer runs) and a
  // model blob still being written.
  const dead = join(dir, ".partial-999999999-20260101T000000000Z-abcdef");
  mkdirSync(join(dead, "home"), { recursive: true });
  writeFileSync(join(dead, "home", "bulwark.db"), "half");
  writeFileSync(join(dir, "blobs", "sha256", `${"0".repeat(64)}.999999999-ab.tmp`), "half");
  const listing = listBackups(dir);
  assert.deepEqual(
    listing.backups.map((b) => b.id),
    [made.id],
  );
  assert.deepEqual(listing.incomplete, [
    { name: ".partial-999999999-20260101T000000000Z-abcdef", live: false },
  ]);
  const refused = await code(() => verifyBackup(dir, "20260101T000000000Z-abcdef"));
  assert.equal(refused.code, "backup_not_found");
  const pruned = pruneBackups(dir, 5);
  assert.deepEqual(pruned.partialsRemoved, [".partial-999999999-20260101T000000000Z-abcdef"]);
  assert.equal(existsSync(dead), false);
  assert.deepEqual(readdirSync(join(dir, "blobs", "sha256")), [made.manifest.models[0]!.sha256]);
});

test("prune keeps the newest N and the model blobs they refer to", async (t) => {
  const h = await statefulHome();
  t.after(() => {
    h.close();
    rmSync(h.root, { recursive: true, force: true });
  });
  const dir = join(h.root, "backups");
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) ids.push((await backupOf(h, dir)).id);
  const report = pruneBackups(dir, 1);
  assert.deepEqual(report.kept, [ids[2]]);
  assert.deepEqual(report.removed.sort(), [ids[0], ids[1]].sort());
  assert.equal(report.blobsRemoved, 0, "the kept backup still refers to the model");
  assert.equal((await verifyBackup(dir, ids[2]!)).ok, true);
  // A backup without models: pruning down to it drops the blob nobody refers to.
  const bare = await backupOf(h, dir, { includeModels: false });
  const last = pruneBackups(dir, 1);
  assert.deepEqual(last.kept, [bare.id]);
  assert.equal(last.blobsRemoved, 1);
});

test("an encrypted backup: unreadable without the key, refused with another, restored with it", async (t) => {
  const h = await statefulHome();
  t.after(() => {
    h.close();
    rmSync(h.root, { recursive: true, force: true });
  });
  const dir = join(h.root, "backups");
  const raw = randomBytes(32);
  const key = { key: raw, id: keyId(raw) };
  const made = await backupOf(h, dir, { key });
  assert.deepEqual(made.manifest.encryption, { algorithm: "aes-256-gcm", keyId: key.id });
  const db = readFileSync(join(made.path, "home", "bulwark.db"));
  assert.ok(!db.includes("SQLite format 3"), "the store is not in clear");
  assert.ok(!db.includes("alice"));
  assert.ok(made.manifest.models[0]!.blob.endsWith(".enc"));
  assert.equal((await verifyBackup(dir, made.id)).ok, true, "digests check without the key");

  const other = randomBytes(32);
  const target = join(h.root, "restored");
  const wrong = await code(() =>
    restoreBackup({ dir, id: made.id, home: target, key: { key: other, id: keyId(other) } }),
  );
  assert.equal(wrong.code, "backup_key_unavailable");
  assert.equal(existsSync(target), false);
  const second = await backupOf(h, dir, { key });
  assert.equal(second.manifest.models[0]!.storedSha256, made.manifest.models[0]!.storedSha256);
  h.close();
  const before = stateOf(h.config);
  await restoreBackup({ dir, id: made.id, home: target, key });
  assert.deepEqual(stateOf(homeConfig(target)), before);
  assert.equal(readManifest(dir, made.id).id, made.id);
});

test("the snapshot is consistent while another connection writes", async (t) => {
  const h = await statefulHome();
  t.after(() => {
    h.close();
    rmSync(h.root, { recursive: true, force: true });
  });
  const dir = join(h.root, "backups");
  let stop = false;
  let written = 0;
  const writer = (async () => {
    while (!stop && written < 5000) {
      h.stores.audit.append("test", "load.tick", String(written), {});
      written++;
      await new Promise((r) => setImmediate(r));
    }
  })();
  const made = await backupOf(h, dir, { includeModels: false });
  stop = true;
  await writer;
  const target = join(h.root, "restored");
  await restoreBackup({ dir, id: made.id, home: target });
  const restored = stateOf(homeConfig(target));
  assert.equal(restored.auditVerify.ok, true);
  assert.equal(restored.audit.length, made.manifest.auditHead!.seq);
  const live = h.stores.audit.entries();
  assert.deepEqual(
    restored.audit,
    live.slice(0, restored.audit.length),
    "a prefix of the live chain",
  );
});

test("a crafted manifest cannot make restore write outside the new home", async (t) => {
  const h = await statefulHome();
  t.after(() => {
    h.close();
    rmSync(h.root, { recursive: true, force: true });
  });
  const dir = join(h.root, "backups");
  const made = await backupOf(h, dir);
  const path = join(made.path, "MANIFEST.json");
  const manifest = JSON.parse(readFileSync(path, "utf8"));
  manifest.files[0].path = "home/../../escape.db";
  manifest.models[0].name = "..";
  writeFileSync(path, JSON.stringify(manifest));
  // Digests that match the crafted manifest: only the path checks stand in the way.
  writeFileSync(
    join(made.path, "MANIFEST.json.sha256"),
    `${createHash("sha256").update(readFileSync(path)).digest("hex")}  MANIFEST.json\n`,
  );
  const report = await verifyBackup(dir, made.id);
  assert.equal(report.ok, false);
  assert.match(report.problems.join("\n"), /home\/\.\.\/\.\.\/escape\.db: a path outside/);
  assert.match(report.problems.join("\n"), /model \.\.:1 is not a valid name/);
  const target = join(h.root, "restored");
  assert.equal(
    (await code(() => restoreBackup({ dir, id: made.id, home: target }))).code,
    "backup_corrupted",
  );
  assert.equal(existsSync(target), false);
  assert.equal(existsSync(join(h.root, "escape.db")), false);
});

test("a restored registry gets its automatic copies again, for the newest versions", async (t) => {
  const h = await statefulHome();
  t.after(() => {
    h.close();
    rmSync(h.root, { recursive: true, force: true });
  });
  const dir = join(h.root, "backups");
  const made = await backupOf(h, dir);
  const target = join(h.root, "restored");
  await restoreBackup({ dir, id: made.id, home: target });
  const registry = openRegistry(homeConfig(target, { registry: { backupsToKeep: 1 } }));
  try {
    assert.deepEqual(
      registry.list().map((v) => v.backedUp),
      [false, false],
    );
    assert.deepEqual(await registry.backfillBackupCopies(), ["tiny:2"]);
    assert.deepEqual(await registry.backfillBackupCopies(), []);
    assert.deepEqual(
      registry.list().map((v) => [v.version, v.backedUp]),
      [
        ["1", false],
        ["2", true],
      ],
    );
  } finally {
    registry.close();
  }
});
