import { test } from "node:test";
import assert from "node:assert/strict";
import { openDatabase } from "../../../src/store/index.js";
import { AuditLog } from "../../../src/audit/index.js";

test("each audit entry names the instance that wrote it, inside the hash; verify counts them", () => {
  const db = openDatabase(":memory:");
  let now = 0;
  const a = new AuditLog(db, undefined, () => ++now, "gw1");
  const b = new AuditLog(db, undefined, () => ++now, "gw2");
  assert.equal(a.append("cli", "key.created", "k1", { name: "x" }).details.instance, "gw1");
  b.append("cli", "key.revoked", "k1");
  a.append("cli", "ban.added", "203.0.113.1");
  const result = a.verify();
  assert.equal(result.ok, true);
  assert.deepEqual(result.instances, { gw1: 2, gw2: 1 });
  // The instance is part of what the hash covers: changing it breaks the chain.
  const triggers = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'")
    .pluck()
    .all() as string[];
  for (const t of triggers) db.exec(`DROP TRIGGER ${t}`);
  db.prepare("UPDATE audit_log SET details = ? WHERE seq = 2").run('{"instance":"gw1"}');
  assert.equal(a.verify().ok, false);
  db.close();
});
