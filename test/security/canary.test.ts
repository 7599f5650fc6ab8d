/**
 * A unique canary string sent through every path that carries prompt or output text must not
 * be found in any file under BULWARK_HOME afterwards: logs, stores, audit, usage. (The
 * response cache's Redis tier and batch files seal their text with src/crypto; their own tests
 * dump Redis and read the files.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { call, chatBody, MODEL, startSecureServer } from "../helpers/access.js";

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

test("a canary sent through every text path is in no file under BULWARK_HOME", async (t) => {
  // A home of the test's own: the server's would be removed when it closes.
  const home = mkdtempSync(join(tmpdir(), "bulwark-canary-"));
  const s = await startSecureServer({ home });
  let closed = false;
  t.after(async () => {
    if (!closed) await s.close();
    if (!process.env.KEEP_CANARY_HOME) rmSync(home, { recursive: true, force: true });
  });
  const canary = `canary${randomBytes(8).toString("hex")}`;
  const email = `${canary}@example.com`;
  const keys = await Promise.all(
    ["none", "prompt", "prompt+output", "reversible"].map((mask) =>
      s.createKey({ name: `k-${mask.replace("+", "-")}`, role: "user", mask }),
    ),
  );
  const url = (p: string) => `${s.server.url}${p}`;
  for (const k of keys) {
    for (const text of [canary, `write to ${email} please`]) {
      const paths: [string, unknown][] = [
        ["/v1/chat/completions", chatBody(text)],
        ["/v1/chat/completions", chatBody(text, { stream: true })],
        ["/v1/completions", { model: MODEL, prompt: text, max_tokens: 4 }],
        ["/v1/embeddings", { model: MODEL, input: text }],
        ["/tokenize", { model: MODEL, content: text }],
      ];
      for (const [path, body] of paths) {
        const res = await call(url(path), k.key, "POST", body);
        assert.ok(res.status < 500, `${path}: ${res.status}`);
      }
    }
  }
  // Errors carrying the text (an unknown model named after it) are logged and audited too.
  await call(url("/v1/chat/completions"), keys[0]!.key, "POST", {
    ...chatBody(canary),
    model: canary,
  });
  await s.close();
  closed = true;
  const files = filesUnder(home);
  assert.ok(
    files.some((f) => f.endsWith("bulwark.db")) && files.some((f) => /access\.log/.test(f)),
    files.join(","),
  );
  const hits = files.filter((f) => readFileSync(f).includes(canary));
  assert.deepEqual(hits, [], "the canary is stored in clear");
});
