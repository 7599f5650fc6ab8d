import { test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, existsSync, openSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { ftruncateSync } from "node:fs";
import { join } from "node:path";
import { generateKey } from "../../../src/auth/index.js";
import { encodeGgufHeader, GgmlType, gv, layoutTensors } from "../../../src/models/index.js";
import { bulwark } from "../../helpers/cli.js";
import { call } from "../../helpers/access.js";
import { STORIES_MISSING, storiesModel } from "../../helpers/paths.js";
import { flipByte } from "../../helpers/registry.js";
import { spawnServe, waitReady, type ServeProcess } from "../../helpers/serve-process.js";
import { waitFor } from "../../helpers/server.js";
import { tempDir } from "../../helpers/model-files.js";

const stories = storiesModel();

/**
 * A home's config file: the home (so every CLI command with --config works on it), header
 * validation, no automatic model copies, a backup folder.
 */
function writeConfig(root: string, home: string, backups: string): string {
  const file = join(root, "bulwark.yaml");
  writeFileSync(
    file,
    `home: ${home}\nregistry:\n  validateOnImport: header\n  backupsToKeep: 0\n` +
      `backup:\n  dir: ${backups}\n  includeModels: true\n`,
  );
  return file;
}

/** A valid GGUF of `bytes` (sparse: its one tensor is zeros), slow enough to copy and hash. */
function bigGguf(path: string, bytes: number): void {
  const floats = Math.floor(bytes / 4);
  const header = encodeGgufHeader(
    new Map([["general.architecture", gv.str("llama")]]),
    layoutTensors([{ name: "t", dims: [floats], type: GgmlType.F32 }]),
  );
  writeFileSync(path, header);
  const fd = openSync(path, "r+");
  ftruncateSync(fd, header.length + floats * 4 + 64);
  closeSync(fd);
}

function adminUrlOf(run: ServeProcess): Promise<string> {
  return waitFor(() => run.lines.some((l) => l.msg === "admin API listening"), 60_000).then(
    () => run.lines.find((l) => l.msg === "admin API listening")!.url as string,
  );
}

function killed(run: ServeProcess): Promise<unknown> {
  run.child.kill("SIGKILL");
  return run.exit;
}

test("a SIGKILL of the server in the middle of backup create leaves no complete-looking backup", async (t) => {
  const root = tempDir("bulwark-backup-kill-");
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const home = join(root, "home");
  const backups = join(root, "backups");
  const config = writeConfig(root, home, backups);
  const big = join(root, "big.gguf");
  bigGguf(big, 400 * 1024 * 1024);
  const env = { ...process.env, BULWARK_HOME: home };
  const imported = bulwark(["models", "import", big, "--name", "big", "--config", config], 300_000);
  assert.equal(imported.status, 0, imported.stderr);

  const adminKey = generateKey().full;
  // The demo model is served; the registry's big model is only backed up.
  const run = spawnServe(["--config", config, "--port", "0"], {
    ...env,
    BULWARK_ADMIN_KEY: adminKey,
  });
  t.after(() => run.child.kill("SIGKILL"));
  await run.url;
  const admin = await adminUrlOf(run);
  const pending = call(`${admin}/admin/backups`, adminKey, "POST").catch((e: Error) => e);
  // The stores are snapshotted first; the model blob is being written when the kill comes.
  const blobs = join(backups, "blobs", "sha256");
  const midway = await waitFor(
    () =>
      existsSync(backups) &&
      readdirSync(backups).some((n) => n.startsWith(".partial-")) &&
      existsSync(blobs) &&
      readdirSync(blobs).some((n) => n.endsWith(".tmp")),
    60_000,
  );
  assert.ok(midway, "the backup reached its model copy");
  await killed(run);
  assert.ok((await pending) instanceof Error, "the backup never answered");

  const listed = bulwark(["backup", "list", "--from", backups, "--json"]);
  assert.equal(listed.status, 0, listed.stderr);
  const listing = JSON.parse(listed.stdout);
  assert.deepEqual(listing.backups, []);
  assert.equal(listing.incomplete.length, 1);
  assert.equal(listing.incomplete[0].live, false);
  const partialId = (listing.incomplete[0].name as string).replace(/^\.partial-\d+-/, "");
  const verify = bulwark(["backup", "verify", partialId, "--from", backups]);
  assert.equal(verify.status, 1);
  assert.match(verify.stderr, /no complete backup/);
  const target = join(root, "restored");
  const restore = bulwark(["backup", "restore", partialId, "--from", backups, "--home", target]);
  assert.equal(restore.status, 1);
  assert.equal(existsSync(target), false);

  const pruned = bulwark(["backup", "prune", "--keep", "3", "--from", backups]);
  assert.equal(pruned.status, 0, pruned.stderr);
  assert.deepEqual(
    readdirSync(backups).filter((n) => n !== "blobs"),
    [],
    "the partial backup is gone",
  );
  assert.deepEqual(readdirSync(blobs), [], "and so is the half-written model");
});

test("restore onto a fresh home: digests checked, audit and models verified, and it serves", async (t) => {
  if (!stories) return t.skip(STORIES_MISSING);
  const root = tempDir("bulwark-backup-restore-");
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const home = join(root, "home");
  const backups = join(root, "backups");
  const config = writeConfig(root, home, backups);
  const env = { ...process.env, BULWARK_HOME: home };
  const imported = bulwark(["models", "import", stories, "--name", "stories", "--config", config]);
  assert.equal(imported.status, 0, imported.stderr);
  const adminKey = generateKey().full;
  const serveArgs = ["--config", config, "--model", "stories", "--port", "0", "--gpu", "cpu"];
  const run = spawnServe([...serveArgs, "--ctx", "512"], { ...env, BULWARK_ADMIN_KEY: adminKey });
  t.after(() => run.child.kill("SIGKILL"));
  const url = await run.url;
  const admin = await adminUrlOf(run);
  assert.ok(await waitReady(url, 120_000));
  const user = await call(`${admin}/admin/keys`, adminKey, "POST", { name: "u", role: "user" });
  const body = { model: "stories", prompt: "Once upon a time", max_tokens: 16, temperature: 0 };
  const before = await call(`${url}/v1/completions`, user.json.key, "POST", body);
  assert.equal(before.status, 200, before.text);

  // The CLI's backup, taken from another process while the server serves.
  const made = bulwark(["backup", "create", "--include-models", "--config", config, "--json"]);
  assert.equal(made.status, 0, made.stderr);
  const manifest = JSON.parse(made.stdout);
  assert.equal(manifest.models.length, 1);
  await killed(run);

  // One changed byte: verify and restore name the file, and nothing is restored.
  const dbFile = join(backups, manifest.id, "home", "bulwark.db");
  flipByte(dbFile, 200);
  const bad = bulwark(["backup", "verify", manifest.id, "--from", backups]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, new RegExp(`BAD ${manifest.id}/home/bulwark.db: sha256`));
  const refused = join(root, "refused");
  const badRestore = bulwark([
    "backup",
    "restore",
    manifest.id,
    "--from",
    backups,
    "--home",
    refused,
  ]);
  assert.equal(badRestore.status, 1);
  assert.match(badRestore.stderr, /nothing restored.*\n.*home\/bulwark\.db/);
  assert.equal(existsSync(refused), false);
  flipByte(dbFile, 200);

  const fresh = join(root, "fresh");
  const restored = bulwark(["backup", "restore", manifest.id, "--from", backups, "--home", fresh]);
  assert.equal(restored.status, 0, restored.stderr + restored.stdout);
  assert.match(restored.stdout, /audit log intact: \d+ entries/);
  assert.match(restored.stdout, /ok {3}stories:1/);
  assert.match(restored.stdout, /automatic backup copies made for stories:1/);
  const again = bulwark(["backup", "restore", manifest.id, "--from", backups, "--home", fresh]);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /not empty/);

  const second = spawnServe(
    [...serveArgs, "--ctx", "512", "--config", join(fresh, "config", "bulwark.yaml")],
    { ...process.env, BULWARK_HOME: fresh },
  );
  t.after(() => second.child.kill("SIGKILL"));
  const url2 = await second.url;
  assert.ok(await waitReady(url2, 120_000));
  const after = await call(`${url2}/v1/completions`, user.json.key, "POST", body);
  assert.equal(after.status, 200, after.text);
  assert.equal(after.json.choices[0].text, before.json.choices[0].text);
  second.child.kill("SIGTERM");
  await second.exit;
});
