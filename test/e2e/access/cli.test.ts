import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { parseKey } from "../../../src/auth/index.js";
import { main } from "../../../src/cli/index.js";
import { repoRoot } from "../../helpers/paths.js";
import { fakeEngine, startTestServer, waitFor } from "../../helpers/server.js";
import { call, chatBody, MODEL } from "../../helpers/access.js";

const bin = join(repoRoot(), "bin", "bulwark.js");

/** Runs the real binary (slow to start on a busy machine: used for a few calls only). */
function spawnCli(home: string, ...args: string[]) {
  const env = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith("BULWARK_")) delete env[name];
  const res = spawnSync(process.execPath, [bin, ...args, "--home", home], {
    encoding: "utf8",
    env,
    cwd: tmpdir(),
    timeout: 60_000,
  });
  return { code: res.status, out: res.stdout, err: res.stderr };
}

/** Runs the CLI's entry point (what bin/bulwark.js calls) in this process, capturing its output. */
async function cli(home: string, ...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => void out.push(a.join(" ") + "\n");
  console.error = (...a: unknown[]) => void err.push(a.join(" ") + "\n");
  let code: number;
  try {
    code = await main([...args, "--home", home]);
  } finally {
    console.log = log;
    console.error = error;
    process.exitCode = undefined;
  }
  return { code, out: out.join(""), err: err.join("") };
}

test("bulwark keys: create prints the key once; list, rotate, revoke and set-role work on the store", async () => {
  const home = mkdtempSync(join(tmpdir(), "bulwark-cli-"));
  try {
    const gen = spawnSync(process.execPath, [bin, "keys", "generate"], { encoding: "utf8" });
    assert.ok(parseKey(gen.stdout.trim()), gen.stdout);

    const made = spawnCli(
      home,
      "keys",
      "create",
      "--name",
      "ci",
      "--role",
      "user",
      "--rpm",
      "5",
      "--models",
      "a,b",
      "--json",
    );
    assert.equal(made.code, 0, made.err);
    const created = JSON.parse(made.out);
    assert.ok(parseKey(created.key));
    assert.equal(created.rpm, 5);
    assert.deepEqual(created.models, ["a", "b"]);

    const human = await cli(
      home,
      "keys",
      "create",
      "--name",
      "ops",
      "--role",
      "operator",
      "--expires",
      "30d",
    );
    assert.equal(human.code, 0, human.err);
    assert.match(human.out, /shown this once/);
    assert.match(human.out, /bwk_[0-9a-z]{12}_/);

    const list = await cli(home, "keys", "list", "--json");
    assert.equal(list.code, 0);
    assert.ok(!list.out.includes(created.key.slice(17)), "the list never shows a secret");
    assert.equal(JSON.parse(list.out).length, 2);
    const table = await cli(home, "keys", "list");
    assert.match(table.out, /ci\s+user\s+active/);

    const rotated = await cli(home, "keys", "rotate", created.id, "--json");
    assert.equal(rotated.code, 0, rotated.err);
    assert.notEqual(JSON.parse(rotated.out).key, created.key);
    assert.equal(JSON.parse(rotated.out).id, created.id);

    assert.equal((await cli(home, "keys", "set-role", created.id, "auditor")).code, 0);
    assert.equal((await cli(home, "keys", "revoke", created.id)).code, 0);
    const after = JSON.parse((await cli(home, "keys", "list", "--json")).out);
    const row = after.find((k: any) => k.id === created.id);
    assert.equal(row.role, "auditor");
    assert.ok(row.revokedAt > 0);

    const badRole = await cli(home, "keys", "create", "--name", "x", "--role", "root");
    assert.equal(badRole.code, 2);
    assert.match(badRole.err, /--role must be/);
    const badIps = await cli(
      home,
      "keys",
      "create",
      "--name",
      "x",
      "--role",
      "user",
      "--ips",
      "10.0.0.0/99",
    );
    assert.equal(badIps.code, 1);
    assert.match(badIps.err, /ips/);
    const unknown = await cli(home, "keys", "revoke", "nosuchkey000");
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /No API key/);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test("the CLI and a running server share the store: keys, revocation, bans and usage", async () => {
  const home = mkdtempSync(join(tmpdir(), "bulwark-cli-"));
  const made = JSON.parse(
    (await cli(home, "keys", "create", "--name", "app", "--role", "user", "--json")).out,
  );
  const server = await startTestServer(
    {
      home,
      models: [{ name: MODEL, path: "/m.gguf" }],
      security: { trustedProxies: ["127.0.0.1/32"] },
    },
    { replicaFactory: fakeEngine().factory, auth: true },
  );
  try {
    const url = `${server.url}/v1/chat/completions`;
    // Answered requests, for the usage check below (refused ones carry no key and count none).
    let answered = 0;
    const chat = async (headers?: Record<string, string>) => {
      const res = await call(url, made.key, "POST", chatBody(), headers);
      if (res.status === 200) answered++;
      return res;
    };
    assert.equal((await chat()).status, 200);

    const from = { "x-forwarded-for": "203.0.113.5" };
    const ban = await cli(
      home,
      "bans",
      "add",
      "203.0.113.5",
      "--duration",
      "1h",
      "--reason",
      "abuse",
    );
    assert.equal(ban.code, 0, ban.err);
    // The server reads another process's bans within a second.
    let banned: Awaited<ReturnType<typeof call>> | undefined;
    assert.ok(
      await waitFor(async () => {
        banned = await chat(from);
        return banned.status !== 200;
      }, 3_000),
    );
    assert.equal(banned!.status, 403);
    assert.equal(banned!.json.error.code, "ip_banned");
    assert.match((await cli(home, "bans", "list")).out, /203\.0\.113\.5\s+abuse\s+cli/);
    assert.equal((await cli(home, "bans", "remove", "203.0.113.5")).code, 0);
    assert.ok(await waitFor(async () => (await chat(from)).status === 200, 3_000));
    assert.equal((await cli(home, "bans", "remove", "203.0.113.5")).code, 1);

    await new Promise((r) => setTimeout(r, 50));
    const usage = JSON.parse((await cli(home, "usage", "--key", made.id, "--json")).out);
    assert.equal(usage.data[0].key, made.id);
    assert.equal(usage.data[0].requests, answered);
    assert.ok(usage.data[0].by_model[MODEL].completion_tokens > 0);
    const today = new Date().toISOString().slice(0, 10);
    assert.ok(usage.data[0].by_day[today]);
    assert.match(
      (await cli(home, "usage", "--since", today)).out,
      new RegExp(`${today}\\s+${made.id}\\s+${MODEL}\\s+${answered}\\s`),
    );
    assert.equal((await cli(home, "usage", "--since", "yesterday")).code, 2);

    assert.equal((await cli(home, "keys", "revoke", made.id)).code, 0);
    const revoked = await call(url, made.key, "POST", chatBody());
    assert.equal(revoked.status, 401, "a revocation by the CLI takes effect on the next request");
    assert.equal(revoked.json.error.code, "key_revoked");
  } finally {
    await server.close();
    rmSync(home, { recursive: true, force: true });
  }
});

test("bulwark audit verify catches every kind of tampering and names the first bad entry", async () => {
  const home = mkdtempSync(join(tmpdir(), "bulwark-audit-"));
  const copies: string[] = [];
  try {
    for (let i = 0; i < 5; i++)
      await cli(home, "keys", "create", "--name", `k${i}`, "--role", "user");
    const ok = await cli(home, "audit", "verify");
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, /intact: 5 entries/);
    const exported = await cli(home, "audit", "export");
    const entries = exported.out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      entries.map((e) => e.seq),
      [1, 2, 3, 4, 5],
    );
    assert.equal(entries[1].prevHash, entries[0].hash);

    const db = new Database(join(home, "bulwark.db"));
    assert.throws(
      () => db.prepare("UPDATE audit_log SET actor = 'x' WHERE seq = 1").run(),
      /append-only/,
    );
    assert.throws(() => db.prepare("DELETE FROM audit_log WHERE seq = 5").run(), /append-only/);
    db.close();

    const tamper = async (name: string, sql: string[]) => {
      const copy = `${home}-${name}`;
      copies.push(copy);
      cpSync(home, copy, { recursive: true });
      const t = new Database(join(copy, "bulwark.db"));
      t.exec("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;");
      for (const s of sql) t.exec(s);
      t.close();
      return cli(copy, "audit", "verify");
    };
    const modified = await tamper("modified", [
      `UPDATE audit_log SET actor = 'mallory' WHERE seq = 3`,
    ]);
    assert.equal(modified.code, 1);
    assert.match(modified.err, /entry 3: .*modified/);
    const deleted = await tamper("deleted", ["DELETE FROM audit_log WHERE seq = 2"]);
    assert.equal(deleted.code, 1);
    assert.match(deleted.err, /entry 3: .*missing/);
    const inserted = await tamper("inserted", [
      "UPDATE audit_log SET seq = seq + 100 WHERE seq >= 3",
      "UPDATE audit_log SET seq = seq - 99 WHERE seq >= 103",
      `INSERT INTO audit_log (seq, ts, actor, action, target, details, prev_hash, hash)
         SELECT 3, ts, 'mallory', 'key.created', 'x', '{}', hash, hash FROM audit_log WHERE seq = 2`,
    ]);
    assert.equal(inserted.code, 1);
    assert.match(inserted.err, /entry 3: /);
    const reordered = await tamper("reordered", [
      "UPDATE audit_log SET seq = 100 WHERE seq = 2",
      "UPDATE audit_log SET seq = 2 WHERE seq = 3",
      "UPDATE audit_log SET seq = 3 WHERE seq = 100",
    ]);
    assert.equal(reordered.code, 1);
    assert.match(reordered.err, /entry 2: /);
    const truncated = await tamper("truncated", ["DELETE FROM audit_log WHERE seq = 5"]);
    assert.equal(truncated.code, 1);
    assert.match(truncated.err, /entry 5: .*deleted from the end/);
  } finally {
    rmSync(home, { recursive: true, force: true });
    for (const c of copies) rmSync(c, { recursive: true, force: true });
  }
});
