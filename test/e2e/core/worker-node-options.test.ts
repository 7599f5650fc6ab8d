import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { bulwark } from "../../helpers/cli.js";
import { tempDir } from "../../helpers/model-files.js";
import { postJson, startTestServer, waitFor } from "../../helpers/server.js";

test("engine.workerNodeOptions reaches the worker: --cpu-prof writes its profile when it exits", async () => {
  const dir = tempDir();
  const model = join(dir, "tiny.gguf");
  const generated = bulwark([
    ...["models", "generate", "random", "--out", model, "--width", "64", "--layers", "1"],
    ...["--heads", "2", "--kv-heads", "2", "--ff", "128", "--vocab", "400", "--seed", "3"],
  ]);
  assert.equal(generated.status, 0, generated.stderr);
  const profiles = join(dir, "profiles");
  const server = await startTestServer({
    models: [{ name: "tiny", path: model, slots: 1 }],
    engine: {
      gpu: "cpu",
      threads: 1,
      contextSize: 64,
      workerNodeOptions: ["--cpu-prof", `--cpu-prof-dir=${profiles}`],
    },
  });
  let pid: number;
  try {
    assert.ok(
      await waitFor(async () => (await fetch(`${server.url}/readyz`)).status === 200, 60_000),
    );
    const res = await postJson(`${server.url}/v1/completions`, {
      model: "tiny",
      prompt: "a",
      max_tokens: 4,
    });
    assert.equal(res.status, 200, res.text);
    const health = (await (await fetch(`${server.url}/health`)).json()) as any;
    pid = health.models[0].replicas[0].pid;
    assert.ok(pid > 0 && pid !== process.pid);
  } finally {
    await server.close();
  }
  // V8 names the file CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile. node-llama-cpp's check
  // of its binary runs in a child of the worker, which inherits the flags and writes one too.
  const written = readdirSync(profiles).filter((f) => f.endsWith(".cpuprofile"));
  const mine = written.find((f) => f.split(".")[3] === String(pid));
  assert.ok(mine, `no profile of worker ${pid} among ${written.join(", ")}`);
  const profile = JSON.parse(readFileSync(join(profiles, mine), "utf8"));
  assert.ok(profile.nodes.length > 0 && profile.samples.length > 0);
});
