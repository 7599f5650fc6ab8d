/** `bulwark keys rotate-data-key`: a new key file, the old key still opens, audited. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../helpers/paths.js";
import { Keyring } from "../../src/crypto/index.js";

test("rotate-data-key writes a private new key; values sealed before still open; audited", (t) => {
  const home = mkdtempSync(join(tmpdir(), "bulwark-datakey-"));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const k1 = join(home, "k1");
  writeFileSync(k1, randomBytes(32).toString("hex"), { mode: 0o600 });
  const before = Keyring.fromEnv({ BULWARK_DATA_KEY_FILE: k1 })!;
  const sealed = before.seal("sealed before the rotation", "place");
  const k2 = join(home, "k2");
  const run = (extra: string[]) =>
    spawnSync(
      process.execPath,
      [join(repoRoot(), "bin", "bulwark.js"), "keys", "rotate-data-key", "--out", k2, ...extra],
      { encoding: "utf8", env: { ...process.env, BULWARK_HOME: home, BULWARK_DATA_KEY_FILE: k1 } },
    );
  const r = run([]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(statSync(k2).mode & 0o777, 0o600);
  assert.match(r.stdout, new RegExp(`BULWARK_DATA_KEY_PREVIOUS_FILES=${k1}`));
  const after = Keyring.fromEnv({
    BULWARK_DATA_KEY_FILE: k2,
    BULWARK_DATA_KEY_PREVIOUS_FILES: k1,
  })!;
  assert.notEqual(after.current.id, before.current.id);
  assert.equal(after.open(sealed, "place").toString(), "sealed before the rotation");
  assert.equal(after.keyIdOf(after.reseal(sealed, "place")), after.current.id);
  assert.notEqual(run([]).status, 0, "an existing file is never overwritten");
  const audit = spawnSync(
    process.execPath,
    [join(repoRoot(), "bin", "bulwark.js"), "audit", "export"],
    { encoding: "utf8", env: { ...process.env, BULWARK_HOME: home } },
  );
  assert.match(audit.stdout, /data_key\.rotated/);
});
