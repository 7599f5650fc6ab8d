import { test } from "node:test";
import assert from "node:assert/strict";
import { loadConfig } from "../../../src/config/index.js";
import { configFindings, keyFindings, modeFindings } from "../../../src/doctor/checks.js";

const severities = (f: { severity: string; check: string }[]) =>
  f.filter((x) => x.severity === "high").map((x) => x.check);

test("config checks: loopback defaults have no high finding; exposure without TLS does", () => {
  assert.deepEqual(severities(configFindings(loadConfig({ env: {}, overrides: {} }))), []);
  const exposed = loadConfig({
    env: {},
    overrides: { server: { host: "0.0.0.0" }, security: { trustedProxies: ["0.0.0.0/0"] } },
  });
  assert.deepEqual(severities(configFindings(exposed)).sort(), ["config", "tls"]);
});

test("admin keys without expiry and open modes are reported", () => {
  const keys = [
    { id: "a", name: "a", role: "admin", expiresAt: null, revokedAt: null },
    { id: "b", name: "b", role: "admin", expiresAt: null, revokedAt: 1 },
    { id: "u", name: "u", role: "user", expiresAt: null, revokedAt: null },
  ];
  const k = keyFindings(keys);
  assert.equal(k[0]!.severity, "medium");
  assert.match(k[0]!.message, /1 admin key\(s\) without expiry: a /);
  const m = modeFindings([
    { path: "/h", mode: 0o40755, dir: true },
    { path: "/h/bulwark.db", mode: 0o100644, dir: false },
    { path: "/h/audit.head", mode: 0o100600, dir: false },
  ]);
  assert.deepEqual(
    m.map((x) => [x.severity, x.message]),
    [
      ["high", "/h is mode 755; make it 0700"],
      ["high", "/h/bulwark.db is mode 644; make it 0600"],
    ],
  );
});
