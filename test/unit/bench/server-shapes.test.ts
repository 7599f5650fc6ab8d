/**
 * The bench's client against llama-server's answer shapes, served by a small local HTTP server
 * that replays them: /tokenize {content} → {tokens} (and the tokens of an empty prompt for a
 * vLLM-shaped probe), and a stream whose usage rides on the last chunk with choices.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { connectTokenizer } from "../../../src/bench/tokenizer.js";
import { createTarget } from "../../../src/bench/http.js";
import { sendStreaming } from "../../../src/bench/stream-request.js";

let server: http.Server;
let url: string;

function chunk(text: string, finish: string | null, usage?: object): string {
  const body = {
    choices: [{ text, index: 0, finish_reason: finish }],
    ...(usage ? { usage } : {}),
  };
  return `data: ${JSON.stringify(body)}\n\n`;
}

before(async () => {
  server = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (d) => (raw += d));
    req.on("end", () => {
      const body = JSON.parse(raw) as Record<string, unknown>;
      res.setHeader(
        "content-type",
        req.url === "/v1/completions" ? "text/event-stream" : "application/json",
      );
      if (req.url === "/tokenize") {
        // llama-server ignores `prompt`: an empty content gives BOS only, and no count.
        const text = typeof body.content === "string" ? body.content : "";
        const tokens = [
          ...(body.add_special ? [1] : []),
          ...Array.from(text, (c) => c.charCodeAt(0)),
        ];
        res.end(JSON.stringify({ tokens }));
      } else if (req.url === "/detokenize") {
        res.end(JSON.stringify({ content: String.fromCharCode(...(body.tokens as number[])) }));
      } else {
        res.write(chunk(" a", null));
        res.write(chunk(" b", null));
        res.write(
          chunk("", "length", {
            completion_tokens: 2,
            prompt_tokens: 5,
            prompt_tokens_details: { cached_tokens: 4 },
          }),
        );
        res.end("data: [DONE]\n\n");
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

test("llama-server's /tokenize is recognised even though it answers the vLLM-shaped probe", async () => {
  const target = createTarget(url);
  const tok = await connectTokenizer(target, "m");
  assert.equal(tok.flavor, "llama.cpp");
  assert.deepEqual(await tok.tokenize("hi", true), [1, 104, 105]);
  assert.equal(await tok.detokenize([104, 105]), "hi");
  target.agent.destroy();
});

test("usage on the last chunk with choices is read; that chunk still counts for ITL and E2E", async () => {
  const target = createTarget(url);
  const o = await sendStreaming(
    target,
    { prompt: "hello", outputLen: 2 },
    { model: "m", endpoint: "completions", ignoreEos: true, timeoutMs: 5000 },
  );
  target.agent.destroy();
  assert.equal(o.ok, true, o.errorMessage);
  assert.equal(o.outputTokens, 2, "from usage, not the 3 chunks");
  assert.equal(o.promptTokens, 5);
  assert.equal(o.cachedTokens, 4);
  assert.equal(o.itlMs.length, 2);
  assert.ok(o.e2eMs >= o.ttftMs);
});
