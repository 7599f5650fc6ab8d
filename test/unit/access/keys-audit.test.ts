import { test } from "node:test";
import assert from "node:assert/strict";
import { Authenticator, generateKey, KeyStore, parseKey, can } from "../../../src/auth/index.js";
import { AuditLog, RotatingFile } from "../../../src/audit/index.js";
import { migrate, openDatabase } from "../../../src/store/index.js";
import type { BulwarkError } from "../../../src/errors/index.js";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

test("keys: format, checksum, at least 128 bits of secret", () => {
  const { id, full } = generateKey();
  assert.match(full, /^bwk_[0-9a-z]{12}_[0-9A-Za-z]{36}$/);
  assert.equal(parseKey(full)?.id, id);
  // 32 base-62 characters carry 190 bits.
  assert.ok(32 * Math.log2(62) >= 128);
  let caught = 0;
  for (let i = 17; i < full.length; i++) {
    const c = full[i] === "a" ? "b" : "a";
    if (!parseKey(full.slice(0, i) + c + full.slice(i + 1))) caught++;
  }
  assert.equal(caught, full.length - 17, "every single-character typo fails the checksum");
  assert.notEqual(generateKey().full, generateKey().full);
});

test("the authenticator: digest only, expiry, revocation, rotation grace, IP allowlist", () => {
  let now = 1000;
  const db = openDatabase(":memory:");
  const keys = new KeyStore(db, () => now);
  const auth = new Authenticator(keys, () => now);
  const made = keys.create({ name: "a", role: "user", expiresAt: 5000, ips: ["10.0.0.0/8"] });
  const row = db.prepare("SELECT * FROM api_keys").get() as Record<string, unknown>;
  assert.ok(!JSON.stringify(row).includes(made.key.slice(17)), "only the digest is stored");
  const code = (fn: () => unknown) => {
    try {
      fn();
      return "ok";
    } catch (e) {
      return (e as BulwarkError).code;
    }
  };
  assert.equal(
    code(() => auth.authenticate(made.key, "10.1.1.1")),
    "ok",
  );
  assert.equal(
    code(() => auth.authenticate(made.key, "192.0.2.1")),
    "permission_denied",
  );
  assert.equal(
    code(() => auth.authenticate(undefined, "10.1.1.1")),
    "missing_api_key",
  );
  now = 5000;
  assert.equal(
    code(() => auth.authenticate(made.key, "10.1.1.1")),
    "key_expired",
  );

  const b = keys.create({ name: "b", role: "admin" });
  const rotated = keys.rotate(b.record.id, 500)!;
  assert.equal(
    code(() => auth.authenticate(b.key, "1.1.1.1")),
    "ok",
  );
  assert.equal(
    code(() => auth.authenticate(rotated.key, "1.1.1.1")),
    "ok",
  );
  now = 5500;
  assert.equal(
    code(() => auth.authenticate(b.key, "1.1.1.1")),
    "key_revoked",
  );
  assert.equal(
    code(() => auth.authenticate(rotated.key, "1.1.1.1")),
    "ok",
  );
  keys.revoke(b.record.id);
  assert.equal(
    code(() => auth.authenticate(rotated.key, "1.1.1.1")),
    "key_revoked",
  );
  assert.ok(
    can("admin", "keys.admin") && !can("operator", "keys.admin") && !can("auditor", "inference"),
  );
  db.close();
});

test("migrations run once per subsystem and name", () => {
  const db = openDatabase(":memory:");
  let runs = 0;
  const m = [{ name: "001", up: () => void runs++ }];
  migrate(db, "x", m);
  migrate(db, "x", m);
  migrate(db, "y", m);
  assert.equal(runs, 2);
  db.close();
});

test("the audit chain links each entry to the previous one", () => {
  let now = 0;
  const db = openDatabase(":memory:");
  const log = new AuditLog(db, undefined, () => ++now);
  const a = log.append("cli", "key.created", "k1", { role: "user" });
  const b = log.append("cli", "key.revoked", "k1");
  assert.equal(b.prevHash, a.hash);
  assert.equal(a.prevHash, "0".repeat(64));
  assert.deepEqual(log.verify(), { ok: true, entries: 2 });
  db.exec("DROP TRIGGER audit_no_update");
  db.prepare('UPDATE audit_log SET details = \'{"role":"admin"}\' WHERE seq = 1').run();
  assert.equal(log.verify().firstBad?.seq, 1);
  db.close();
});

test("the rotating file rotates by size and by day and keeps a bounded number of files", () => {
  const dir = mkdtempSync(join(tmpdir(), "bulwark-rot-"));
  try {
    let now = Date.UTC(2026, 0, 1, 23, 59);
    const f = new RotatingFile(
      join(dir, "access.log"),
      { maxBytes: 30, daily: true, keepFiles: 2 },
      () => now,
    );
    f.write("0123456789"); // 11 bytes
    f.write("0123456789"); // 22
    f.write("0123456789"); // would be 33: rotates first
    assert.equal(f.rotated().length, 1);
    now += 2 * 60_000; // past midnight
    f.write("new day");
    assert.equal(f.rotated().length, 2);
    f.write("0123456789012345678901234");
    f.write("0123456789012345678901234");
    assert.equal(f.rotated().length, 2, "older files deleted");
    assert.equal(readFileSync(join(dir, "access.log"), "utf8"), "0123456789012345678901234\n");
    assert.equal(readdirSync(dir).length, 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
