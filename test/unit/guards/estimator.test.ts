import { test } from "node:test";
import assert from "node:assert/strict";
import { tmpdir } from "node:os";
import { loadConfig } from "../../../src/config/index.js";
import { processOverheadBytes, ToolkitMemoryEstimator } from "../../../src/guards/index.js";
import { STORIES_MISSING, storiesModel } from "../../helpers/paths.js";

const MiB = 1024 * 1024;
const modelPath = storiesModel();

test("a load estimate counts llama-server's host prompt cache with the process, in full", async (t) => {
  if (!modelPath) return t.skip(STORIES_MISSING);
  const config = (promptCacheBytes: number) =>
    loadConfig({
      env: { HOME: "/home/x" },
      cwd: tmpdir(),
      overrides: { engine: { backend: "llama-server", promptCacheBytes } },
    });
  const estimate = (promptCacheBytes: number) =>
    new ToolkitMemoryEstimator(processOverheadBytes(config(promptCacheBytes))).estimate({
      modelPath,
      contextSize: 256,
      slots: 2,
    });
  const without = await estimate(0);
  const withCache = await estimate(300 * MiB);
  assert.equal(withCache.totalBytes - without.totalBytes, 300 * MiB);
  assert.equal(withCache.overheadBytes - without.overheadBytes, 300 * MiB);
  assert.equal(withCache.weightsBytes, without.weightsBytes);
  assert.equal(withCache.kvCacheBytes, without.kvCacheBytes);
});
