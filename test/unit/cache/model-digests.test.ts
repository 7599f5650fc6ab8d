import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ServedModelDigests, type DigestSource } from "../../../src/cache/index.js";

const sha = (text: string) => createHash("sha256").update(text).digest("hex");
const settle = () => new Promise((r) => setTimeout(r, 50));

test("a plain file's digest is its sha256, computed in the background; a new file gets a new one", async () => {
  const dir = mkdtempSync(join(tmpdir(), "bulwark-digest-"));
  try {
    const file = join(dir, "model.gguf");
    writeFileSync(file, "version one");
    let now = 0;
    const errors: string[] = [];
    const digests = new ServedModelDigests(
      (m) => (m === "m" ? { kind: "file", path: file } : undefined),
      (_m, err) => errors.push(err.message),
      () => now,
    );
    assert.equal(digests.digest("m"), undefined, "not known before it is hashed: bypass");
    await digests.ready(["m"]);
    assert.equal(digests.digest("m"), sha("version one"));
    assert.equal(digests.digest("other"), undefined);
    // The file is replaced (another size): the next check hashes it again.
    writeFileSync(file, "version two, longer");
    now += 5_000;
    digests.digest("m");
    await settle();
    await digests.ready(["m"]);
    assert.equal(digests.digest("m"), sha("version two, longer"));
    rmSync(file);
    now += 5_000;
    digests.digest("m");
    await settle();
    assert.equal(digests.digest("m"), undefined, "an unreadable file has no digest");
    assert.equal(errors.length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a registry model's digest is its served version's manifest sha256, read at each lookup", () => {
  let version = "sha-of-v1";
  const source: DigestSource = { kind: "registry", sha256: () => version };
  const digests = new ServedModelDigests((m) => (m === "r" ? source : undefined));
  assert.equal(digests.digest("r"), "sha-of-v1");
  version = "sha-of-v2"; // promoted
  assert.equal(digests.digest("r"), "sha-of-v2");
});
