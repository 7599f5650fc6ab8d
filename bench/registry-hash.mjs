#!/usr/bin/env node
// Measures the registry's full sha256 and its load-time fingerprint over a file of random bytes.
// Usage: npm run build && node bench/registry-hash.mjs [MiB, default 256]
import { randomBytes } from "node:crypto";
import { openSync, writeSync, closeSync, rmSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sha256File, fingerprintFile } from "../dist/src/registry/index.js";

const mib = Number(process.argv[2] ?? 256);
const dir = mkdtempSync(join(tmpdir(), "bulwark-hash-"));
const file = join(dir, "random.bin");
const fd = openSync(file, "w");
for (let i = 0; i < mib; i++) writeSync(fd, randomBytes(1024 * 1024));
closeSync(fd);
try {
  let t = performance.now();
  await sha256File(file);
  const full = performance.now() - t;
  t = performance.now();
  await fingerprintFile(file);
  const fp = performance.now() - t;
  console.log(
    `sha256 of ${mib} MiB: ${full.toFixed(0)} ms (${(mib / (full / 1000)).toFixed(0)} MiB/s); ` +
      `fingerprint: ${fp.toFixed(1)} ms`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
