/**
 * Hostile model files (issue 17, holes 1, 2, 7, 8, 9) through the real entry points: the CLI
 * under a capped V8 heap, so a reader that turns a small file into gigabytes fails fast here
 * instead of taking the machine; and the registry's admin import over HTTP, which must answer
 * a coded 400 and stay up.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../helpers/paths.js";
import { tempDir } from "../helpers/model-files.js";
import { tempRegistry } from "../helpers/registry.js";
import {
  duplicateTensorNames,
  hugeAlignment,
  nestedArrays,
  q8RowNotBlock,
  safetensorsNullEntry,
  smallHugeArray,
  writeHfFolder,
  writeSparseArrays,
} from "../helpers/hostile-files.js";
import { buildBaseApp } from "../../src/http/index.js";
import { silentLogger } from "../../src/observability/index.js";
import { registerRegistryAdminRoutes } from "../../src/registry/index.js";

/** Runs the CLI with a V8 heap of `heapMb`. */
function cli(args: string[], heapMb: number) {
  const r = spawnSync(
    process.execPath,
    [`--max-old-space-size=${heapMb}`, join(repoRoot(), "bin", "bulwark.js"), ...args],
    { encoding: "utf8", timeout: 120_000 },
  );
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

function assertRefused(r: ReturnType<typeof cli>, code: string, what: string): void {
  assert.equal(r.signal, null, `${what}: killed by ${r.signal}: ${r.stderr.slice(-400)}`);
  assert.equal(r.status, 1, `${what}: ${r.stderr.slice(-400)}`);
  assert.match(r.stderr, new RegExp(`^bulwark: ${code}: `), `${what}: ${r.stderr.slice(-400)}`);
  assert.doesNotMatch(r.stderr, /\n\s+at |Maximum call stack|heap out of memory/, what);
}

function hostileDir() {
  const dir = tempDir("bulwark-hostile-");
  const files = {
    smallHugeArray: join(dir, "small-huge-array.gguf"),
    sparse: join(dir, "sparse-arrays.gguf"),
    nested: join(dir, "nested.gguf"),
    alignment: join(dir, "alignment.gguf"),
    q8Row: join(dir, "q8-row.gguf"),
    duplicate: join(dir, "duplicate.gguf"),
    stNull: join(dir, "null-entry.safetensors"),
    hf: join(dir, "hf-billion-layers"),
  };
  writeFileSync(files.smallHugeArray, smallHugeArray());
  writeSparseArrays(files.sparse, 30);
  writeFileSync(files.nested, nestedArrays(200_000));
  writeFileSync(files.alignment, hugeAlignment());
  writeFileSync(files.q8Row, q8RowNotBlock());
  writeFileSync(files.duplicate, duplicateTensorNames());
  writeFileSync(files.stNull, safetensorsNullEntry());
  writeHfFolder(files.hf, 1e9);
  return { dir, files };
}

test("hostile files are small on disk", () => {
  const { files } = hostileDir();
  assert.equal(smallHugeArray().length, 59);
  assert.equal(hugeAlignment().length, 57);
  const st = statSync(files.sparse);
  assert.ok(st.size > 480 * 1024 * 1024, `sparse file is ${st.size} bytes long`);
  assert.ok(st.blocks * 512 < 1024 * 1024, `sparse file takes ${st.blocks * 512} bytes on disk`);
});

test("models inspect refuses headers whose values would exhaust memory, under a small heap", () => {
  const { files } = hostileDir();
  // 59 bytes declaring 16 Mi items: the old reader gave them 215 MB before finding the end.
  assertRefused(cli(["models", "inspect", files.smallHugeArray], 96), "model_truncated", "59 B");
  // 480 MiB of sparse u8 arrays: the old reader went to 4.7 GB and a V8 abort.
  assertRefused(
    cli(["models", "inspect", files.sparse], 512),
    "model_header_too_large",
    "sparse arrays",
  );
});

test("models inspect refuses arrays nested 200k deep with a code, not a stack overflow", () => {
  const { files } = hostileDir();
  assertRefused(cli(["models", "inspect", files.nested], 256), "model_invalid", "nested");
});

test("models inspect refuses tensors llama.cpp refuses: Q8_0 rows not whole blocks, duplicates", () => {
  const { files } = hostileDir();
  assertRefused(cli(["models", "inspect", files.q8Row], 256), "model_invalid", "q8 row");
  const dup = cli(["models", "inspect", files.duplicate], 256);
  assertRefused(dup, "model_invalid", "duplicate names");
  assert.match(dup.stderr, /duplicate tensor name "t"/);
});

test("models quantize refuses an alignment of 2^30 instead of writing a 1 GiB file", () => {
  const { dir, files } = hostileDir();
  const out = join(dir, "aligned-out.gguf");
  assertRefused(
    cli(["models", "quantize", files.alignment, out, "--type", "q8_0"], 256),
    "model_invalid",
    "alignment",
  );
  assert.ok(!existsSync(out) || statSync(out).size < 1024 * 1024, "a huge output was written");
});

test("models inspect refuses a safetensors entry that is null", () => {
  const { files } = hostileDir();
  assertRefused(cli(["models", "inspect", files.stNull], 256), "model_invalid", "null entry");
});

test("models convert refuses a config.json with 1e9 layers before planning them", () => {
  const { dir, files } = hostileDir();
  const r = cli(["models", "convert", files.hf, join(dir, "hf.gguf")], 256);
  assertRefused(r, "model_invalid", "1e9 layers");
  assert.match(r.stderr, /1000000000 layers/);
});

test("admin import answers every hostile file with a coded 400 in OpenAI's shape", async (t) => {
  const { files } = hostileDir();
  const r = tempRegistry(1);
  const app = buildBaseApp({
    logger: silentLogger(),
    component: "admin",
    requestLogComponent: "admin-access",
    bodyLimit: 1024 * 1024,
    forceCloseConnections: true,
  });
  registerRegistryAdminRoutes(app, { registry: r.registry, logger: silentLogger() });
  await app.ready();
  t.after(async () => {
    await app.close();
    r.cleanup();
  });
  const hf = join(r.dir, "hf");
  mkdirSync(hf);
  writeHfFolder(hf, 1e9);
  const cases = [
    files.smallHugeArray,
    files.sparse,
    files.nested,
    files.alignment,
    files.q8Row,
    files.duplicate,
    files.stNull,
    hf,
  ];
  for (const [i, path] of cases.entries()) {
    const res = await app.inject({
      method: "POST",
      url: "/admin/models/import",
      payload: { path, name: `h${i}` },
    });
    assert.equal(res.statusCode, 400, `${path}: ${res.body}`);
    const body = res.json();
    assert.equal(body.error.code, "registry_invalid_model", path);
    assert.equal(body.error.type, "invalid_request_error", path);
    assert.ok("param" in body.error && typeof body.error.message === "string", path);
    assert.doesNotMatch(res.body, /\n\s+at |Maximum call stack/, path);
  }
});
