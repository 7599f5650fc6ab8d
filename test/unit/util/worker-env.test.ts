import { test } from "node:test";
import assert from "node:assert/strict";
import { workerEnv } from "../../../src/util/worker-env.js";

test("a worker's environment keeps what it runs on and drops every secret", () => {
  const env = workerEnv({
    PATH: "/usr/bin",
    HOME: "/home/b",
    LANG: "C.UTF-8",
    LC_ALL: "C",
    NODE_LLAMA_CPP_LOG_LEVEL: "warn",
    GGML_NUM_THREADS: "1",
    CUDA_VISIBLE_DEVICES: "0",
    BULWARK_ADMIN_KEY: "bwk_x",
    BULWARK_DATA_KEY: "k",
    HF_TOKEN: "hf_x",
    AWS_SECRET_ACCESS_KEY: "s",
    REDIS_PASSWORD: "p",
    NODE_OPTIONS: "--require /tmp/evil.js",
  });
  assert.deepEqual(Object.keys(env).sort(), [
    "CUDA_VISIBLE_DEVICES",
    "GGML_NUM_THREADS",
    "HOME",
    "LANG",
    "LC_ALL",
    "NODE_LLAMA_CPP_LOG_LEVEL",
    "PATH",
  ]);
});
