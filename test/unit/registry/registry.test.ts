import { test } from "node:test";
import assert from "node:assert/strict";
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { BulwarkError } from "../../../src/errors/index.js";
import { backupTo, restoreFrom, Registry, sha256File } from "../../../src/registry/index.js";
import { STORIES_MISSING, storiesModel } from "../../helpers/paths.js";
import { flipByte, tempRegistry } from "../../helpers/registry.js";

const model = storiesModel();
const STORIES_SHA = "270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d";

async function rejectsWith(p: Promise<unknown> | (() => unknown), code: string, pattern?: RegExp) {
  await assert.rejects(
    async () => (typeof p === "function" ? p() : p),
    (err: unknown) => {
      assert.ok(err instanceof BulwarkError, String(err));
      assert.equal(err.code, code);
      if (pattern) assert.match(err.message, pattern);
      return true;
    },
  );
}

test("import records a manifest with the sha256 and GGUF facts; verify recomputes it", async (t) => {
  if (!model) return t.skip(STORIES_MISSING);
  const r = tempRegistry();
  t.after(r.cleanup);
  const seen: number[] = [];
  const m = await r.registry.import(model, { name: "stories", onProgress: (d) => seen.push(d) });
  assert.equal(m.version, "1");
  assert.equal(m.sha256, STORIES_SHA);
  assert.equal(m.size, 1_185_376);
  assert.equal(m.architecture, "llama");
  assert.equal(m.contextLength, 2048);
  assert.equal(m.parameterCount, 292_800);
  assert.equal(m.validation.ok, true);
  assert.equal(seen.at(-1), 1_185_376);
  const onDisk = JSON.parse(readFileSync(r.registry.layout.manifestFile("stories", "1"), "utf8"));
  assert.deepEqual(onDisk, m);
  assert.equal(r.registry.resolve("stories").version, "1", "the first version gets latest");
  const [v] = await r.registry.verify("stories:1");
  assert.equal(v!.ok, true);
  assert.equal(v!.actual, STORIES_SHA);
  await rejectsWith(
    r.registry.import(model, { name: "stories", version: "1" }),
    "registry_version_exists",
    /stories:1 is already/,
  );
  assert.equal((await r.registry.import(model, { name: "stories" })).version, "2");
});

test("import refuses a file that is not GGUF, a truncated GGUF, bad names and missing files", async (t) => {
  if (!model) return t.skip(STORIES_MISSING);
  const r = tempRegistry();
  t.after(r.cleanup);
  const junk = join(r.dir, "junk.bin");
  writeFileSync(junk, "not a model at all");
  await rejectsWith(
    r.registry.import(junk, { name: "junk" }),
    "registry_invalid_model",
    /model_unknown_format/,
  );
  const cut = join(r.dir, "cut.gguf");
  writeFileSync(cut, readFileSync(model).subarray(0, 600_000));
  await rejectsWith(
    r.registry.import(cut, { name: "cut" }),
    "registry_invalid_model",
    /past the end of the file/,
  );
  await rejectsWith(r.registry.import(model, { name: "bad/name" }), "registry_invalid_name");
  await rejectsWith(
    r.registry.import(model, { name: "x", version: "latest" }),
    "registry_invalid_name",
  );
  await rejectsWith(
    r.registry.import(join(r.dir, "absent.gguf"), { name: "x" }),
    "registry_file_not_found",
  );
  assert.deepEqual(r.registry.list(), []);
  assert.deepEqual(readdirSync(r.registry.layout.staging), [], "nothing left in staging");
});

test("promote moves latest, rollback moves it back, rm refuses what is aliased or serving", async (t) => {
  if (!model) return t.skip(STORIES_MISSING);
  const r = tempRegistry();
  t.after(r.cleanup);
  await r.registry.import(model, { name: "s" });
  await r.registry.import(model, { name: "s" });
  await r.registry.import(model, { name: "s" });
  assert.equal(r.registry.latest("s"), "1");
  r.registry.promote("s:2");
  r.registry.promote("s:3");
  assert.equal(r.registry.resolve("s").version, "3");
  assert.equal(r.registry.rollback("s").version, "2");
  assert.equal(r.registry.rollback("s").version, "1");
  await rejectsWith(async () => r.registry.rollback("s"), "registry_no_rollback");
  await rejectsWith(async () => r.registry.rollback("nobody"), "registry_model_not_found");
  await rejectsWith(
    async () => r.registry.remove("s:1"),
    "registry_model_in_use",
    /latest points at it/,
  );
  r.registry.markServing("s", "2");
  await rejectsWith(async () => r.registry.remove("s:2"), "registry_model_in_use", /serving/);
  r.registry.remove("s:3");
  assert.equal(existsSync(r.registry.layout.versionDir("s", "3")), false);
  r.registry.remove("s:2", { force: true });
  assert.deepEqual(
    r.registry.list().map((v) => `${v.name}:${v.version}:${v.aliases.join(",")}`),
    ["s:1:latest"],
  );
});

test("a corrupted byte or a truncation is caught at load and repaired from the backup copy", async (t) => {
  if (!model) return t.skip(STORIES_MISSING);
  const r = tempRegistry();
  t.after(r.cleanup);
  await r.registry.import(model, { name: "s" });
  const file = r.registry.layout.modelFile("s", "1");
  assert.equal(await r.registry.checkForLoad("s", "1"), "ok");
  flipByte(file, 100);
  assert.equal(await r.registry.checkForLoad("s", "1"), "restored");
  assert.equal(await sha256File(file), STORIES_SHA);
  assert.deepEqual(
    r.alerts.map((a) => a.kind),
    ["model_corrupted", "model_restored"],
  );
  assert.match(r.alerts[0]!.message, /refusing to load s:1: fingerprint/);
  truncateSync(file, 1000);
  assert.equal(await r.registry.checkForLoad("s", "1"), "restored");
  assert.match(r.alerts[2]!.message, /size is 1000 bytes/);
  assert.equal(statSync(file).size, 1_185_376);
  // Without an intact backup the load is refused.
  flipByte(r.registry.layout.backupModelFile("s", "1"), 5000);
  flipByte(file, 200);
  await rejectsWith(
    r.registry.checkForLoad("s", "1"),
    "registry_checksum_mismatch",
    /no intact backup/,
  );
  assert.equal(r.alerts.at(-1)!.kind, "model_unrecoverable");
});

test("a byte corrupted in the middle escapes the fingerprint but not verify", async (t) => {
  if (!model) return t.skip(STORIES_MISSING);
  // The model is 1.13 MiB: its middle byte lies in the first MiB, so pad a copy to 3 MiB.
  const r = tempRegistry();
  t.after(r.cleanup);
  const big = join(r.dir, "big.gguf");
  writeFileSync(big, Buffer.concat([readFileSync(model), Buffer.alloc(2 * 1024 * 1024)]));
  await r.registry.import(big, { name: "big" });
  const file = r.registry.layout.modelFile("big", "1");
  flipByte(file, 1_600_000);
  assert.equal(await r.registry.checkForLoad("big", "1"), "ok");
  const [v] = await r.registry.verify("big");
  assert.equal(v!.ok, false);
  assert.equal(r.alerts.at(-1)!.kind, "verify_failed");
});

test("backups on import keep the newest N copies", async (t) => {
  if (!model) return t.skip(STORIES_MISSING);
  const r = tempRegistry(2);
  t.after(r.cleanup);
  for (let i = 0; i < 4; i++) await r.registry.import(model, { name: "s" });
  assert.deepEqual(readdirSync(join(r.registry.layout.backupDir, "s")).sort(), ["3", "4"]);
  assert.deepEqual(
    r.registry.list().map((v) => v.backedUp),
    [false, false, true, true],
  );
});

test("backup --to writes a checksum list; restore verifies every file before registering", async (t) => {
  if (!model) return t.skip(STORIES_MISSING);
  const a = tempRegistry(0);
  t.after(a.cleanup);
  await a.registry.import(model, { name: "s" });
  await a.registry.import(model, { name: "s" });
  const out = join(a.dir, "out");
  await backupTo(a.registry, "s:1", out);
  await backupTo(a.registry, "s:2", out);
  const sums = readFileSync(join(out, "SHA256SUMS"), "utf8").trim().split("\n");
  assert.equal(sums.length, 4);
  assert.ok(sums.includes(`${STORIES_SHA}  s/1/model.gguf`));

  const b = tempRegistry(0);
  t.after(b.cleanup);
  flipByte(join(out, "s", "2", "model.gguf"), 10);
  await rejectsWith(
    restoreFrom(b.registry, out),
    "registry_checksum_mismatch",
    /s\/2\/model\.gguf: sha256/,
  );
  assert.deepEqual(b.registry.list(), [], "nothing registered from a bad backup");
  flipByte(join(out, "s", "2", "model.gguf"), 10);
  const report = await restoreFrom(b.registry, out);
  assert.deepEqual(report.registered, ["s:1", "s:2"]);
  assert.equal(b.registry.resolve("s:2").manifest.sha256, STORIES_SHA);
  assert.deepEqual((await restoreFrom(b.registry, out)).alreadyPresent, ["s:1", "s:2"]);
});

test("opening the registry removes what a dead import left, and keeps a live one", async (t) => {
  if (!model) return t.skip(STORIES_MISSING);
  const r = tempRegistry();
  t.after(r.cleanup);
  const layout = r.registry.layout;
  r.registry.close();
  // A staging folder and a renamed-but-unindexed version of a process that no longer runs.
  const deadPid = 2 ** 22 + 12345;
  mkdirSync(join(layout.staging, `${deadPid}-abc`));
  writeFileSync(join(layout.staging, `${deadPid}-abc`, "model.gguf"), "partial");
  mkdirSync(layout.versionDir("half", "1"), { recursive: true });
  writeFileSync(join(layout.versionDir("half", "1"), ".import-pid"), String(deadPid));
  // A version a live process (this one's parent) is still registering.
  mkdirSync(layout.versionDir("live", "1"), { recursive: true });
  writeFileSync(join(layout.versionDir("live", "1"), ".import-pid"), String(process.ppid));
  const reopened = new Registry({ dir: layout.dir, backupsToKeep: 0 });
  t.after(() => reopened.close());
  assert.deepEqual(readdirSync(layout.staging), []);
  assert.equal(existsSync(layout.versionDir("half", "1")), false);
  assert.equal(existsSync(layout.versionDir("live", "1")), true);
});
