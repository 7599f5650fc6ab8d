/**
 * The security-incident runbook in code: lockdown from the CLI against a running server, and
 * from the admin API; 503 maintenance, keys suspended, evidence with a SHA-256 manifest,
 * audit entries, release.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../helpers/paths.js";
import { call, chatBody, startSecureServer } from "../helpers/access.js";

function cli(home: string, args: string[]) {
  const r = spawnSync(process.execPath, [join(repoRoot(), "bin", "bulwark.js"), ...args], {
    encoding: "utf8",
    env: { ...process.env, BULWARK_HOME: home },
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function until(f: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await f()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

function checkManifest(dir: string): string[] {
  const lines = readFileSync(join(dir, "SHA256SUMS"), "utf8").trim().split("\n");
  for (const line of lines) {
    const [hash, name] = line.split("  ") as [string, string];
    const actual = createHash("sha256")
      .update(readFileSync(join(dir, name)))
      .digest("hex");
    assert.equal(actual, hash, name);
  }
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  return lines.map((l) => l.split("  ")[1]!);
}

test("bulwark incident lockdown holds on a running server; release restores service", async (t) => {
  const s = await startSecureServer();
  t.after(() => s.close());
  const user = await s.createKey({ name: "u", role: "user" });
  assert.equal(
    (await call(`${s.server.url}/v1/chat/completions`, user.key, "POST", chatBody())).status,
    200,
  );

  const down = cli(s.server.home, ["incident", "lockdown", "--reason", "key leak"]);
  assert.equal(down.status, 0, down.stderr);
  const dir = /evidence: (\S+)/.exec(down.stdout)![1]!;
  const names = checkManifest(dir);
  for (const f of ["audit.jsonl", "bans.json", "keys.json", "config.json"])
    assert.ok(names.includes(f), f);
  assert.ok(
    names.some((n) => n.startsWith("logs/")),
    names.join(","),
  );
  assert.ok(
    !readFileSync(join(dir, "keys.json"), "utf8").includes(user.key),
    "a secret in evidence",
  );

  // Within a second the server refuses: inference, other routes, and (without --keep-admin) admins.
  assert.ok(
    await until(
      async () =>
        (await call(`${s.server.url}/v1/chat/completions`, user.key, "POST", chatBody())).status ===
        503,
    ),
  );
  const refused = await call(`${s.server.url}/v1/chat/completions`, s.adminKey, "POST", chatBody());
  assert.equal(refused.status, 503);
  assert.equal(refused.json.error.code, "maintenance");
  assert.ok(refused.headers.get("retry-after"));
  assert.equal((await call(`${s.server.adminUrl}/admin/keys`, s.adminKey)).status, 503);
  assert.equal((await fetch(`${s.server.url}/livez`)).status, 200);
  assert.equal(cli(s.server.home, ["incident", "lockdown"]).status, 1, "a second lockdown");

  const up = cli(s.server.home, ["incident", "release"]);
  assert.equal(up.status, 0, up.stderr);
  assert.ok(
    await until(
      async () =>
        (await call(`${s.server.url}/v1/chat/completions`, user.key, "POST", chatBody())).status ===
        200,
    ),
  );
  const audit = await call(`${s.server.adminUrl}/admin/audit`, s.adminKey);
  assert.match(audit.text, /incident\.lockdown/);
  assert.match(audit.text, /incident\.released/);
});

test("POST /admin/incident/lockdown keeps the admin API for admins and release ends it", async (t) => {
  const s = await startSecureServer();
  t.after(() => s.close());
  const operator = await s.createKey({ name: "op", role: "operator" });
  const adm = (p: string) => `${s.server.adminUrl}${p}`;
  assert.equal((await call(adm("/admin/incident/lockdown"), operator.key, "POST", {})).status, 403);
  const down = await call(adm("/admin/incident/lockdown"), s.adminKey, "POST", { reason: "probe" });
  assert.equal(down.status, 200, down.text);
  checkManifest(down.json.lockdown.evidenceDir);
  assert.equal((await call(`${s.server.url}/v1/models`, s.adminKey)).status, 503);
  assert.equal((await call(adm("/admin/keys"), operator.key)).status, 503);
  assert.equal((await call(adm("/admin/keys"), s.adminKey)).status, 200);
  const again = await call(adm("/admin/incident/lockdown"), s.adminKey, "POST", {});
  assert.equal(again.status, 409);
  assert.equal(again.json.error.code, "incident_active");
  assert.equal((await call(adm("/admin/incident/release"), s.adminKey, "POST")).status, 200);
  assert.equal((await call(`${s.server.url}/v1/models`, s.adminKey)).status, 200);
  const none = await call(adm("/admin/incident/release"), s.adminKey, "POST");
  assert.equal(none.json.error.code, "incident_not_active");
});
