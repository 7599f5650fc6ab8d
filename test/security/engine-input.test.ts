/**
 * The real engine behind `bulwark serve` (issue 17, holes 5, 13, 14): input that llama.cpp
 * refuses is the client's 400, not a 500; a file that is not a model stops the start; and the
 * engine workers, which parse untrusted files, hold none of the gateway's secrets.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { spawnServe, waitReady } from "../helpers/serve-process.js";
import { tempDir } from "../helpers/model-files.js";
import { generateKey } from "../../src/auth/index.js";
import { spawnServer } from "../../src/engine/llama-server/process.js";

const HF_CANARY = "hf_workerEnvCanary0123456789";

/** Child processes of `pid` (from /proc). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // gone
    }
  }
  return out;
}

function environOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").filter(Boolean);
}

test("serve --model x=<a text file> stops at start with a clear error", async (t) => {
  const home = tempDir("bulwark-notmodel-");
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const text = join(home, "notes.txt");
  writeFileSync(text, "these are notes, not a model\n");
  const run = spawnServe(["--model", `x=${text}`, "--port", "0", "--threads", "1"], {
    ...process.env,
    BULWARK_HOME: home,
  });
  const timer = setTimeout(() => run.child.kill("SIGKILL"), 60_000);
  const code = await run.exit;
  clearTimeout(timer);
  assert.notEqual(code, null, "killed after 60 s: the server started on a text file");
  assert.notEqual(code, 0);
  assert.match(run.stderr(), /models\[0\]\.path: "x" is not a usable GGUF model/);
  assert.match(run.stderr(), /model_unknown_format/);
});

test("engine input llama.cpp refuses is a 400; the workers hold no secret; the server stays up", async (t) => {
  const home = tempDir("bulwark-engine-input-");
  const adminKey = generateKey().full;
  const auth = { authorization: `Bearer ${adminKey}`, "content-type": "application/json" };
  const run = spawnServe(["--port", "0", "--gpu", "cpu", "--threads", "1", "--ctx", "128"], {
    ...process.env,
    BULWARK_HOME: home,
    BULWARK_ADMIN_KEY: adminKey,
    HF_TOKEN: HF_CANARY,
  });
  t.after(async () => {
    run.child.kill("SIGTERM");
    await run.exit;
    rmSync(home, { recursive: true, force: true });
  });
  const url = await run.url;
  assert.ok(await waitReady(url, 120_000), "not ready");
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as any };
  };
  const model = "bulwark-demo";

  // Hole 14: the worker's environment.
  const workers = childrenOf(run.child.pid!);
  assert.ok(workers.length >= 1, "no engine worker found");
  for (const pid of workers) {
    const env = environOf(pid);
    const names = env.map((e) => e.split("=")[0]);
    assert.ok(!names.includes("BULWARK_ADMIN_KEY"), `worker ${pid} has BULWARK_ADMIN_KEY`);
    assert.ok(!names.includes("HF_TOKEN"), `worker ${pid} has HF_TOKEN`);
    assert.ok(!env.join("\n").includes(adminKey) && !env.join("\n").includes(HF_CANARY));
    assert.ok(names.includes("PATH"), "the worker still gets PATH");
  }

  // Hole 5: each of these was a 500 from llama_decode or the grammar parser.
  const cases: [string, unknown, string][] = [
    ["/v1/embeddings", { model, input: [[999_999_999]] }, "invalid_request"],
    ["/v1/embeddings", { model, input: [Array(200).fill(1)] }, "context_length_exceeded"],
    [
      "/v1/embeddings",
      { model, input: "Once upon a time ".repeat(100) },
      "context_length_exceeded",
    ],
  ];
  for (const bound of [1000, 1e9]) {
    cases.push([
      "/v1/chat/completions",
      {
        model,
        messages: [{ role: "user", content: "hi" }],
        max_tokens: 4,
        response_format: {
          type: "json_schema",
          json_schema: { name: "s", schema: { type: "string", minLength: bound } },
        },
      },
      "invalid_grammar",
    ]);
  }
  for (const [path, body, code] of cases) {
    const res = await post(path, body);
    assert.equal(
      res.status,
      400,
      `${path} ${JSON.stringify(body).slice(0, 120)}: ${JSON.stringify(res.json)}`,
    );
    assert.equal(res.json.error.code, code, JSON.stringify(res.json));
    assert.equal(res.json.error.type, "invalid_request_error");
  }
  // A schema nested 5,000 deep, sent as text (JSON.stringify of it overflows here too).
  const deep =
    '{"type":"object","properties":{"a":'.repeat(5000) + '{"type":"string"}' + "}}".repeat(5000);
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: auth,
    body:
      `{"model":"${model}","messages":[{"role":"user","content":"hi"}],"max_tokens":4,` +
      `"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":${deep}}}}`,
  });
  assert.equal(res.status, 400, await res.clone().text());
  assert.equal(((await res.json()) as any).error.code, "input_too_large");

  // Still serving, on the same workers.
  const ok = await post("/v1/completions", { model, prompt: "Once upon a time", max_tokens: 4 });
  assert.equal(ok.status, 200, JSON.stringify(ok.json));
  assert.deepEqual(childrenOf(run.child.pid!).sort(), workers.sort());
});

test("llama-server is spawned with the minimal environment too", async () => {
  // /usr/bin/env in place of llama-server prints the environment it was given.
  const saved = { admin: process.env.BULWARK_ADMIN_KEY, hf: process.env.HF_TOKEN };
  process.env.BULWARK_ADMIN_KEY = "bwk_secret_for_env_test";
  process.env.HF_TOKEN = HF_CANARY;
  try {
    const child = spawnServer("/usr/bin/env", []);
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    await new Promise((r) => child.once("close", r));
    assert.match(out, /^PATH=/m);
    assert.doesNotMatch(out, /BULWARK_ADMIN_KEY|HF_TOKEN|bwk_secret_for_env_test/);
  } finally {
    if (saved.admin === undefined) delete process.env.BULWARK_ADMIN_KEY;
    else process.env.BULWARK_ADMIN_KEY = saved.admin;
    if (saved.hf === undefined) delete process.env.HF_TOKEN;
    else process.env.HF_TOKEN = saved.hf;
  }
});
