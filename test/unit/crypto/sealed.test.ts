import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isSealed, Keyring } from "../../../src/crypto/index.js";

const code = (f: () => unknown) => {
  try {
    f();
    return "opened";
  } catch (err) {
    return (err as { code?: string }).code;
  }
};

function keyFile(dir: string, name: string): string {
  const f = join(dir, name);
  writeFileSync(f, randomBytes(32).toString("hex") + "\n", { mode: 0o600 });
  return f;
}

test("sealed values open only with their key and their place, and hide their text", () => {
  const dir = mkdtempSync(join(tmpdir(), "bulwark-keys-"));
  const ring = Keyring.fromEnv({ BULWARK_DATA_KEY_FILE: keyFile(dir, "k1") })!;
  const sealed = ring.seal("canary 7f3a prompt text", "cache:abc");
  assert.ok(isSealed(sealed));
  assert.ok(!sealed.includes("canary"));
  assert.equal(ring.open(sealed, "cache:abc").toString(), "canary 7f3a prompt text");
  assert.equal(
    code(() => ring.open(sealed, "cache:other")),
    "sealed_value_invalid",
  );
  const flipped = Buffer.from(sealed);
  flipped[flipped.length - 1]! ^= 1;
  assert.equal(
    code(() => ring.open(flipped, "cache:abc")),
    "sealed_value_invalid",
  );
  const other = Keyring.fromEnv({ BULWARK_DATA_KEY_FILE: keyFile(dir, "k2") })!;
  assert.equal(
    code(() => other.open(sealed, "cache:abc")),
    "data_key_unknown",
  );
  assert.equal(Keyring.fromEnv({}), undefined);
});

test("after a rotation previous keys still open, and reseal moves a value to the current key", () => {
  const dir = mkdtempSync(join(tmpdir(), "bulwark-keys-"));
  const k1 = keyFile(dir, "k1");
  const old = Keyring.fromEnv({ BULWARK_DATA_KEY_FILE: k1 })!;
  const sealed = old.seal("before rotation");
  const ring = Keyring.fromEnv({
    BULWARK_DATA_KEY_FILE: keyFile(dir, "k2"),
    BULWARK_DATA_KEY_PREVIOUS_FILES: k1,
  })!;
  assert.equal(ring.open(sealed).toString(), "before rotation");
  const moved = ring.reseal(sealed);
  assert.equal(ring.keyIdOf(moved), ring.current.id);
  assert.notEqual(ring.keyIdOf(sealed), ring.current.id);
  assert.equal(
    code(() => old.open(moved)),
    "data_key_unknown",
  );
  assert.equal(ring.reseal(moved), moved);
});
