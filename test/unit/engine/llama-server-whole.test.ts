/**
 * Jobs delivered whole (GenerationJob.whole) on the llama-server backend: the pure mapping of a
 * non-streamed answer, and the replica against a stand-in llama-server process that records
 * what it is asked and answers slowly, so that progress during a silent job can be seen.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import {
  wholeBody,
  wholeEvents,
  wholeEventsFromText,
  type WholeStops,
} from "../../../src/engine/llama-server/whole.js";
import { decodeCountOf, LlamaServerReplica } from "../../../src/engine/llama-server/replica.js";
import type { GenerationEvent, GenerationJob } from "../../../src/engine/index.js";
import { createLogger } from "../../../src/observability/index.js";
import { STORIES_MISSING, storiesModel } from "../../helpers/paths.js";
import { GREEDY } from "../../helpers/sampling.js";

const stops: WholeStops = { strings: ["\n\n", ""], tokens: new Map([[7, "<|im_end|>"]]) };

test("whole body: not streamed, every stop string and each stop token's text as a stop", () => {
  const body = wholeBody({ prompt: [1, 2], stream: true, n_predict: 9 }, stops);
  assert.equal(body.stream, false);
  assert.equal(body.return_tokens, true);
  assert.deepEqual(body.prompt, [1, 2]);
  assert.equal(body.n_predict, 9);
  assert.deepEqual(body.stop, ["\n\n", "<|im_end|>"]);
  assert.deepEqual(body.preserved_tokens, ["<|im_end|>"]);
  const none = wholeBody({ stream: true }, { strings: [], tokens: new Map([[3, ""]]) });
  assert.equal("stop" in none, false);
  assert.equal("preserved_tokens" in none, false, "an empty text cannot be a stop");
});

function events(outcome: ReturnType<typeof wholeEvents>): GenerationEvent[] {
  assert.equal(outcome.kind, "events");
  return (outcome as { events: GenerationEvent[] }).events;
}

test("whole answer: the length cap, and the end of generation not counted, as in a stream", () => {
  const timings = { cache_n: 40, prompt_ms: 5, predicted_ms: 20 };
  const limit = events(
    wholeEvents(
      { content: "abc", tokens: [4, 5, 6], stop_type: "limit", tokens_predicted: 3, timings },
      stops,
      10,
    ),
  );
  assert.deepEqual(limit, [
    { type: "text", text: "abc", tokens: 3, pending: "" },
    {
      type: "done",
      finishReason: "length",
      promptTokens: 10,
      completionTokens: 3,
      // Cached tokens never exceed the prompt.
      timings: { cachedTokens: 10, promptMs: 5, generationMs: 20 },
    },
  ]);
  const eos = events(
    wholeEvents(
      { content: "ab", tokens: [4, 5, 2], stop_type: "eos", tokens_predicted: 3 },
      stops,
      4,
    ),
  );
  assert.deepEqual(eos[0], { type: "text", text: "ab", tokens: 2, pending: "" });
  assert.equal(eos[1]!.type === "done" && eos[1]!.finishReason, "stop");
  // EOS at once: no text event, no completion token.
  const empty = events(
    wholeEvents({ content: "", tokens: [2], stop_type: "eos", tokens_predicted: 1 }, stops, 4),
  );
  assert.equal(empty.length, 1);
  assert.equal(empty[0]!.type === "done" && empty[0]!.completionTokens, 0);
});

test("whole answer: a stop string or a stop token's text ends it; the stop token is not counted", () => {
  const word = events(
    wholeEvents(
      {
        content: "one",
        tokens: [4, 5, 6],
        stop_type: "word",
        stopping_word: "\n\n",
        tokens_predicted: 3,
      },
      stops,
      4,
    ),
  );
  assert.deepEqual(word[0], { type: "text", text: "one", tokens: 3, pending: "" });
  assert.equal(word[1]!.type === "done" && word[1]!.finishReason, "stop");
  const token = events(
    wholeEvents(
      {
        content: "hi",
        tokens: [4, 5, 7],
        stop_type: "word",
        stopping_word: "<|im_end|>",
        tokens_predicted: 3,
      },
      stops,
      4,
    ),
  );
  assert.deepEqual(token[0], { type: "text", text: "hi", tokens: 2, pending: "" });
  assert.equal(token[1]!.type === "done" && token[1]!.completionTokens, 2);
});

test("whole answer: a stop token llama-server went past is found in the ids; its text is rebuilt", () => {
  const answer = {
    content: "hi there and more",
    tokens: [4, 5, 7, 8, 9],
    stop_type: "limit",
    tokens_predicted: 5,
  };
  assert.deepEqual(wholeEvents(answer, stops, 4), { kind: "detokenize", tokens: [4, 5] });
  const rebuilt = wholeEventsFromText("hi\n\nthere", 2, answer, stops, 4);
  assert.deepEqual(rebuilt[0], { type: "text", text: "hi", tokens: 2, pending: "" });
  assert.equal(rebuilt[1]!.type === "done" && rebuilt[1]!.finishReason, "stop");
});

test("llama-server's decode count is read from its Prometheus text", () => {
  const text = [
    "# HELP llamacpp:n_decode_total Total number of llama_decode() calls",
    "# TYPE llamacpp:n_decode_total counter",
    "llamacpp:n_decode_total 1234",
    "llamacpp:n_tokens_max 77",
  ].join("\n");
  assert.equal(decodeCountOf(text), 1234);
  assert.equal(decodeCountOf("llamacpp:n_tokens_max 77\n"), undefined);
  assert.equal(decodeCountOf("llamacpp:n_decode_total nan\n"), undefined);
});

/**
 * A stand-in llama-server: serves the endpoints the replica calls on the socket of its --host,
 * appends each /completion body to `record`, answers it after `delayMs`, and counts one decode
 * per /metrics call while a completion is open.
 */
function fakeServer(dir: string, record: string, delayMs: number): string {
  const path = join(dir, "fake-llama-server.mjs");
  writeFileSync(
    path,
    `#!${process.execPath}
import { createServer } from "node:http";
import { appendFileSync } from "node:fs";
const args = process.argv.slice(2);
const socket = args[args.indexOf("--host") + 1];
let open = 0, decodes = 0;
const send = (res, status, body, type = "application/json") => {
  res.writeHead(status, { "content-type": type });
  res.end(typeof body === "string" ? body : JSON.stringify(body));
};
createServer((req, res) => {
  let raw = "";
  req.on("data", (c) => (raw += c));
  req.on("end", () => {
    const body = raw ? JSON.parse(raw) : {};
    if (req.url === "/health") return send(res, 200, { status: "ok" });
    if (req.url === "/props") return send(res, 200, { default_generation_settings: { n_ctx: 512 }, total_slots: 1 });
    if (req.url === "/detokenize") return send(res, 200, { content: body.tokens.map((t) => "<t" + t + ">").join("") });
    if (req.url === "/metrics") {
      if (open > 0) decodes++;
      return send(res, 200, "llamacpp:n_decode_total " + decodes + "\\n", "text/plain");
    }
    if (req.url === "/completion") {
      appendFileSync(${JSON.stringify(record)}, JSON.stringify(body) + "\\n");
      open++;
      setTimeout(() => {
        open--;
        send(res, 200, { content: "done", tokens: [11, 12, 13, 9], stop_type: "word", stopping_word: "<t9>", tokens_predicted: 4, timings: { cache_n: 0, prompt_ms: 1, predicted_ms: 2 } });
      }, ${delayMs});
      return;
    }
    send(res, 404, { error: { code: 404, message: "no", type: "not_found_error" } });
  });
}).listen(socket);
`,
  );
  chmodSync(path, 0o755);
  return path;
}

test("replica: a whole job is one non-streamed /completion; llama-server's decodes are its progress", async (t) => {
  const modelPath = storiesModel();
  if (!modelPath) {
    t.skip(STORIES_MISSING);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "bulwark-whole-"));
  const record = join(dir, "completions.jsonl");
  const replica = new LlamaServerReplica(
    {
      id: "s#0",
      modelName: "s",
      modelPath,
      slots: 1,
      threads: 1,
      contextSize: 512,
      batchSize: 512,
      gpu: "cpu",
      chatWrapper: "auto",
    },
    {
      binary: fakeServer(dir, record, 1_500),
      heartbeatIntervalMs: 100,
      loadTimeoutMs: 20_000,
      testHooks: false,
      logger: createLogger({
        level: "error",
        destination: new Writable({ write: (_c, _e, cb) => cb() }),
      }),
    },
  );
  try {
    await replica.start();
    const job: GenerationJob = {
      id: "w1",
      prompt: { tokens: [1, 2, 3], stopStrings: ["STOP"], stopTokens: [9] },
      sampling: GREEDY,
      maxTokens: 20,
      stop: ["\n"],
      ignoreEos: false,
      whole: true,
    };
    const seen: GenerationEvent[] = [];
    const startedAt = Date.now();
    let progressDuringJob = 0;
    const sample = setTimeout(() => (progressDuringJob = replica.lastProgressAt()), 1_200);
    const done = new Promise<void>((resolve, reject) => {
      replica.generate(job, {
        onEvent: (e) => {
          seen.push(e);
          if (e.type === "done") resolve();
        },
        onError: reject,
      });
    });
    await done;
    clearTimeout(sample);
    assert.equal(seen[0]?.type, "text", "nothing arrived before the answer");
    // 1.2 s into the job, with nothing received, the decode count had moved the progress mark.
    assert.ok(
      progressDuringJob - startedAt >= 600,
      `progress ${progressDuringJob - startedAt} ms after the start`,
    );
    assert.deepEqual(seen, [
      { type: "text", text: "done", tokens: 3, pending: "" },
      {
        type: "done",
        finishReason: "stop",
        promptTokens: 3,
        completionTokens: 3,
        timings: { cachedTokens: 0, promptMs: 1, generationMs: 2 },
      },
    ]);
    const bodies = readFileSync(record, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.equal(bodies.length, 1);
    assert.equal(bodies[0].stream, false);
    assert.deepEqual(bodies[0].prompt, [1, 2, 3]);
    assert.deepEqual(bodies[0].stop, ["\n", "STOP", "<t9>"]);
    assert.deepEqual(bodies[0].preserved_tokens, ["<t9>"]);
    // A job with log-probabilities, or one nobody asked to deliver whole, streams.
    const streamed = new Promise<void>((resolve) => {
      replica.generate(
        { ...job, id: "w2", whole: undefined },
        { onEvent: () => undefined, onError: () => resolve() },
      );
      setTimeout(resolve, 300);
    });
    await streamed;
    replica.abort("w2");
    const last = readFileSync(record, "utf8").trim().split("\n").at(-1)!;
    assert.equal(JSON.parse(last).stream, true);
  } finally {
    await replica.stop(1_000).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});
