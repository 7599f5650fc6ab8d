/**
 * `models pull` gives HF_TOKEN only to the hub over https (issue 17, hole 3): a plain URL, an
 * http hub or another host never sees it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../helpers/paths.js";
import { tempDir } from "../helpers/model-files.js";

const TOKEN = "hf_canaryTokenThatMustNotLeave123";

/** An http server that records each request's Authorization header and answers 404. */
async function recorder() {
  const seen: { url: string; authorization: string | undefined }[] = [];
  const server = createServer((req, res) => {
    seen.push({ url: req.url ?? "", authorization: req.headers.authorization });
    res.writeHead(404, { "content-type": "application/json" }).end("{}");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { seen, url, close: () => new Promise<void>((r) => server.close(() => r())) };
}

function pull(home: string, source: string, env: Record<string, string>) {
  const child = spawn(
    process.execPath,
    [join(repoRoot(), "bin", "bulwark.js"), "models", "pull", source, "--sha256", "0".repeat(64)],
    {
      env: { ...process.env, BULWARK_HOME: home, HF_TOKEN: TOKEN, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.once("exit", (code) => resolve({ code, stderr })),
  );
}

test("models pull sends HF_TOKEN neither to a plain URL nor to an http hub", async (t) => {
  const home = tempDir("bulwark-pull-token-");
  const server = await recorder();
  t.after(async () => {
    await server.close();
    rmSync(home, { recursive: true, force: true });
  });
  // A plain URL (the hub is the default https://huggingface.co, another origin).
  const byUrl = await pull(home, `${server.url}/model.gguf`, {});
  assert.equal(byUrl.code, 1, byUrl.stderr);
  // The hub itself, configured over plain http: the token would cross the network in clear.
  const byHub = await pull(home, "hf:o/r/model.gguf", { BULWARK_REGISTRY_HUB_URL: server.url });
  assert.equal(byHub.code, 1, byHub.stderr);
  assert.ok(server.seen.length >= 2, JSON.stringify(server.seen));
  for (const s of server.seen) assert.equal(s.authorization, undefined, s.url);
  assert.doesNotMatch(byUrl.stderr + byHub.stderr, new RegExp(TOKEN));
});
