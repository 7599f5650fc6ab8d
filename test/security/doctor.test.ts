/** `bulwark doctor`: one line per finding, --json, exit 1 on any high finding. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../helpers/paths.js";
import { tinyGguf } from "../helpers/model-files.js";
import { flipByte } from "../helpers/registry.js";

function doctor(home: string, args: string[], env: Record<string, string> = {}) {
  const e: NodeJS.ProcessEnv = { ...process.env, BULWARK_HOME: home, ...env };
  delete e.BULWARK_CONFIG;
  delete e.BULWARK_DATA_KEY;
  delete e.BULWARK_DATA_KEY_FILE;
  const r = spawnSync(
    process.execPath,
    [join(repoRoot(), "bin", "bulwark.js"), "doctor", ...args],
    {
      encoding: "utf8",
      env: e,
      timeout: 90_000,
    },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("an exposed server without TLS or auth, with an open home, is three high findings and exit 1", (t) => {
  const home = mkdtempSync(join(tmpdir(), "bulwark-doctor-"));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  chmodSync(home, 0o755);
  const r = doctor(home, ["--json", "--no-npm-audit"], {
    BULWARK_SERVER_HOST: "0.0.0.0",
    BULWARK_SECURITY_AUTH: "false",
    BULWARK_SECURITY_METRICS_PUBLIC: "true",
  });
  assert.equal(r.status, 1, r.stderr);
  const report = JSON.parse(r.stdout) as {
    ok: boolean;
    findings: { severity: string; check: string; message: string }[];
  };
  assert.equal(report.ok, false);
  const high = report.findings.filter((f) => f.severity === "high").map((f) => f.check);
  for (const check of ["tls", "auth", "file modes"])
    assert.ok(high.includes(check), `${check}: ${high}`);
  assert.ok(report.findings.some((f) => f.check === "config" && /metricsPublic/.test(f.message)));
  const text = doctor(home, ["--no-npm-audit"], { BULWARK_SERVER_HOST: "0.0.0.0" });
  assert.equal(text.status, 1);
  assert.match(
    text.stdout,
    /^HIGH\s+tls\s+public API is reachable from the network over plain HTTP/m,
  );
});

test("a private default home passes, and says plainly when the npm registry does not answer", (t) => {
  const home = mkdtempSync(join(tmpdir(), "bulwark-doctor-"));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const r = doctor(home, [], {
    npm_config_registry: "http://127.0.0.1:9/",
    npm_config_fetch_retries: "0",
    npm_config_fetch_timeout: "2000",
  });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(
    r.stdout,
    /npm registry did not answer: dependency vulnerabilities were NOT checked/,
  );
  assert.match(r.stdout, /audit chain intact/);
  assert.match(r.stdout, /no high finding/);
});

test("doctor rehashes the registry's models: a damaged one is a high finding, naming it; --no-verify-models skips it and says so", (t) => {
  const home = mkdtempSync(join(tmpdir(), "bulwark-doctor-"));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const src = join(home, "tiny.gguf");
  writeFileSync(src, tinyGguf());
  const imported = spawnSync(
    process.execPath,
    [join(repoRoot(), "bin", "bulwark.js"), "models", "import", src, "--name", "tiny"],
    {
      encoding: "utf8",
      env: { ...process.env, BULWARK_HOME: home, BULWARK_REGISTRY_VALIDATE_ON_IMPORT: "header" },
      timeout: 90_000,
    },
  );
  assert.equal(imported.status, 0, imported.stdout + imported.stderr);
  rmSync(src);
  const intact = doctor(home, ["--json", "--no-npm-audit"]);
  const report = (r: { stdout: string }) =>
    JSON.parse(r.stdout) as { findings: { severity: string; check: string; message: string }[] };
  assert.ok(
    report(intact).findings.some(
      (f) => f.check === "models" && /1 of 1 registry model\(s\) match/.test(f.message),
    ),
    intact.stdout,
  );
  assert.ok(!report(intact).findings.some((f) => f.check === "models" && f.severity === "high"));
  // One byte of the stored model flipped: the checksum no longer matches its manifest.
  const stored = (readdirSync(home, { recursive: true }) as string[]).filter(
    (f) => f.endsWith(".gguf") && !f.includes(".backups"),
  );
  assert.equal(stored.length, 1, stored.join(","));
  flipByte(join(home, stored[0]!), 200);
  const damaged = doctor(home, ["--json", "--no-npm-audit"]);
  assert.equal(damaged.status, 1, damaged.stdout + damaged.stderr);
  const high = report(damaged).findings.filter((f) => f.severity === "high");
  assert.ok(
    high.some((f) => f.check === "models" && /^tiny:1: sha256 differs/.test(f.message)),
    JSON.stringify(high),
  );
  // Progress of the hashing goes to stderr, the report alone to stdout.
  assert.match(damaged.stderr, /verify tiny:1/);
  const text = doctor(home, ["--no-npm-audit"]);
  assert.match(text.stdout, /^HIGH\s+models\s+tiny:1: sha256 differs from the manifest/m);
  const skipped = doctor(home, ["--json", "--no-npm-audit", "--no-verify-models"]);
  assert.ok(
    report(skipped).findings.some(
      (f) => f.check === "models" && f.severity === "low" && /NOT verified/.test(f.message),
    ),
    skipped.stdout,
  );
  assert.ok(!report(skipped).findings.some((f) => f.check === "models" && f.severity === "high"));
});
