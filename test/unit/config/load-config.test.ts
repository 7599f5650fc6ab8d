import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadConfig, renderConfigDocs } from "../../../src/config/index.js";

const repoRoot = join(import.meta.dirname, "..", "..", "..", "..");

test("defaults apply when nothing is given", () => {
  const config = loadConfig({ env: { HOME: "/home/x" }, cwd: tmpdir() });
  assert.equal(config.server.host, "127.0.0.1");
  assert.equal(config.server.port, 8080);
  assert.equal(config.server.bodyLimit, 1024 * 1024);
  assert.equal(config.engine.threads, 0);
  assert.equal(config.home, "/home/x/.bulwark");
  assert.deepEqual(config.models, []);
});

test("file, then env, then flags: each layer overrides the one before", () => {
  const dir = mkdtempSync(join(tmpdir(), "bulwark-config-"));
  const file = join(dir, "bulwark.yaml");
  writeFileSync(
    file,
    "server:\n  port: 9000\n  host: 0.0.0.0\nengine:\n  slots: 2\nmodels:\n  - name: a\n    path: m/a.gguf\n",
  );
  const config = loadConfig({
    file,
    env: { BULWARK_SERVER_PORT: "9100", BULWARK_ENGINE_SLOTS: "3", BULWARK_HOME: "/data" },
    overrides: { engine: { slots: 5 } },
    cwd: dir,
  });
  assert.equal(config.server.host, "0.0.0.0", "from the file");
  assert.equal(config.server.port, 9100, "env wins over the file");
  assert.equal(config.engine.slots, 5, "flags win over env");
  assert.equal(config.home, "/data");
  assert.equal(config.models[0]!.path, join(dir, "m", "a.gguf"), "paths are relative to the file");
});

test("a bad value names the field, its source and the reason", () => {
  assert.throws(
    () => loadConfig({ env: { BULWARK_SERVER_PORT: "eighty" }, cwd: tmpdir() }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /server\.port \[env BULWARK_SERVER_PORT\]: .*expected number/);
      return true;
    },
  );
  assert.throws(
    () => loadConfig({ overrides: { engine: { slots: 0 } }, cwd: tmpdir() }),
    /engine\.slots: Too small/,
  );
  assert.throws(
    () => loadConfig({ overrides: { server: { prot: 1 } }, cwd: tmpdir() }),
    /server: Unrecognized key.*prot/,
  );
});

test("worker Node flags come from BULWARK_ENGINE_WORKER_NODE_OPTIONS; a non-flag is refused", () => {
  const config = loadConfig({
    env: { BULWARK_ENGINE_WORKER_NODE_OPTIONS: "--cpu-prof, --cpu-prof-dir=/tmp/p" },
    cwd: tmpdir(),
  });
  assert.deepEqual(config.engine.workerNodeOptions, ["--cpu-prof", "--cpu-prof-dir=/tmp/p"]);
  assert.deepEqual(loadConfig({ cwd: tmpdir() }).engine.workerNodeOptions, []);
  assert.throws(
    () => loadConfig({ env: { BULWARK_ENGINE_WORKER_NODE_OPTIONS: "cpu-prof" }, cwd: tmpdir() }),
    /engine\.workerNodeOptions\.0: must be a Node\.js flag/,
  );
});

test("duplicate model names are refused", () => {
  assert.throws(
    () =>
      loadConfig({
        overrides: {
          models: [
            { name: "a", path: "/x.gguf" },
            { name: "a", path: "/y.gguf" },
          ],
        },
        cwd: tmpdir(),
      }),
    /duplicate model name "a"/,
  );
});

test("the loaded config is frozen", () => {
  const config = loadConfig({ cwd: tmpdir() });
  assert.throws(() => {
    (config.server as { port: number }).port = 1;
  }, TypeError);
});

test("docs/config.md is generated from the schema and up to date", () => {
  const onDisk = readFileSync(join(repoRoot, "docs", "config.md"), "utf8");
  assert.equal(
    onDisk,
    renderConfigDocs(),
    "run `npm run docs:config` to regenerate docs/config.md",
  );
});

test("engine.backend: node-llama-cpp by default, llama-server by env, anything else refused", () => {
  const env = { HOME: "/home/x" };
  assert.equal(loadConfig({ env, cwd: tmpdir() }).engine.backend, "node-llama-cpp");
  const chosen = loadConfig({
    env: {
      ...env,
      BULWARK_ENGINE_BACKEND: "llama-server",
      BULWARK_ENGINE_LLAMA_SERVER_BINARY: "~/bin/llama-server",
    },
    cwd: tmpdir(),
  });
  assert.equal(chosen.engine.backend, "llama-server");
  assert.equal(chosen.engine.llamaServerBinary, "/home/x/bin/llama-server");
  assert.throws(
    () => loadConfig({ env, cwd: tmpdir(), overrides: { engine: { backend: "vllm" } } }),
    (err: unknown) => err instanceof ConfigError && /engine\.backend/.test(err.message),
  );
});

test("engine.promptCacheBytes: off by default, set by env with llama-server, refused without it", () => {
  const env = { HOME: "/home/x" };
  assert.equal(loadConfig({ env, cwd: tmpdir() }).engine.promptCacheBytes, 0);
  const cached = loadConfig({
    env: {
      ...env,
      BULWARK_ENGINE_BACKEND: "llama-server",
      BULWARK_ENGINE_PROMPT_CACHE_BYTES: "268435456",
    },
    cwd: tmpdir(),
  });
  assert.equal(cached.engine.promptCacheBytes, 256 * 1024 * 1024);
  assert.throws(
    () => loadConfig({ env: { ...env, BULWARK_ENGINE_PROMPT_CACHE_BYTES: "256" }, cwd: tmpdir() }),
    (err: unknown) =>
      err instanceof ConfigError &&
      /engine\.promptCacheBytes/.test(err.message) &&
      /needs engine\.backend llama-server/.test(err.message),
  );
});
