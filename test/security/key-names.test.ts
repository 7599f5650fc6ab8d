/**
 * Key names are shown to people (issue 17, hole 11): control characters are refused by the
 * CLI and the admin API, and `keys list` escapes any that an older store still holds.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../helpers/paths.js";
import { tempDir } from "../helpers/model-files.js";
import { call, startSecureServer } from "../helpers/access.js";
import { KeyStore } from "../../src/auth/index.js";
import { openDatabase, storePath } from "../../src/store/index.js";

// eslint-disable-next-line no-control-regex
const ESC = /\u001b/;
const HOSTILE = [
  "evil\u001b[2J\u001b[Hadmin",
  "bell\u0007",
  "nul\u0000x",
  "c1\u009bx",
  "rtl\u202eevil",
];

function keys(home: string, args: string[]) {
  const r = spawnSync(process.execPath, [join(repoRoot(), "bin", "bulwark.js"), "keys", ...args], {
    encoding: "utf8",
    env: { ...process.env, BULWARK_HOME: home },
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("keys create refuses names with control characters; keys list escapes old ones", (t) => {
  const home = tempDir("bulwark-keynames-");
  t.after(() => rmSync(home, { recursive: true, force: true }));
  for (const name of HOSTILE.filter((n) => !n.includes("\u0000"))) {
    const r = keys(home, ["create", "--name", name, "--role", "user"]);
    assert.equal(r.status, 1, `${JSON.stringify(name)} was accepted: ${r.stdout}`);
    assert.match(r.stderr, /name: control characters are not allowed/);
    assert.doesNotMatch(r.stderr, ESC);
  }
  // A key stored before names were checked.
  const db = openDatabase(storePath(home));
  new KeyStore(db).create({
    name: "old\u001b[2Jname",
    role: "user",
    rpm: 0,
    tpm: 0,
    concurrency: 0,
    dailyBudget: 0,
    models: [],
    ips: [],
    mask: "none",
    expiresAt: null,
  });
  db.close();
  const list = keys(home, ["list"]);
  assert.equal(list.status, 0, list.stderr);
  assert.doesNotMatch(list.stdout, ESC);
  assert.match(list.stdout, /old\\x1b\[2Jname/);
});

test("POST /admin/keys refuses names and model names with control characters", async (t) => {
  const s = await startSecureServer();
  t.after(() => s.close());
  for (const name of HOSTILE) {
    const res = await call(`${s.server.adminUrl}/admin/keys`, s.adminKey, "POST", {
      name,
      role: "user",
    });
    assert.equal(res.status, 400, `${JSON.stringify(name)}: ${res.text}`);
    assert.equal(res.json.error.code, "invalid_request");
    assert.equal(res.json.error.param, "name");
  }
  const models = await call(`${s.server.adminUrl}/admin/keys`, s.adminKey, "POST", {
    name: "ok",
    role: "user",
    models: ["m\u001b[0m"],
  });
  assert.equal(models.status, 400, models.text);
  assert.equal(models.json.error.param, "models.0");
});
