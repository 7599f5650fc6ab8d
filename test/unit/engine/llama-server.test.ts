import { test } from "node:test";
import assert from "node:assert/strict";
import { LlamaText, SpecialToken, SpecialTokensText, chatWrappers } from "node-llama-cpp";
import { buildServerArgs, apiKeyFrom } from "../../../src/engine/llama-server/args.js";
import { completionBody, logitBiasPairs } from "../../../src/engine/llama-server/request.js";
import {
  CompletionStream,
  SseLineParser,
  finishReasonOf,
} from "../../../src/engine/llama-server/stream.js";
import {
  PieceTokenizer,
  chatHistoryOf,
  renderChat,
} from "../../../src/engine/llama-server/chat.js";
import { errorFrom } from "../../../src/engine/llama-server/client.js";
import { controlTokensOf, outputLevel } from "../../../src/engine/llama-server/replica.js";
import { missingBinaryMessage } from "../../../src/engine/llama-server/binary.js";
import type { GenerationJob, ReplicaSpec } from "../../../src/engine/index.js";

const spec: ReplicaSpec = {
  id: "m#0",
  modelName: "m",
  modelPath: "/models/m.gguf",
  slots: 4,
  threads: 2,
  contextSize: 1024,
  batchSize: 512,
  gpu: "cpu",
  chatWrapper: "auto",
};

function flag(args: string[], name: string): string | undefined {
  const at = args.indexOf(name);
  return at === -1 ? undefined : args[at + 1];
}

test("llama-server arguments: threads, slots, per-slot context, socket and key", () => {
  const args = buildServerArgs(spec, {
    socketPath: "/tmp/x/s.sock",
    apiKeyFile: "/tmp/x/api-key",
    promptCacheBytes: 0,
  });
  assert.equal(flag(args, "--model"), "/models/m.gguf");
  assert.equal(flag(args, "--host"), "/tmp/x/s.sock");
  assert.equal(flag(args, "--api-key-file"), "/tmp/x/api-key");
  assert.ok(!args.includes("--api-key"), "the key itself is never on the command line");
  assert.equal(flag(args, "--threads"), "2");
  assert.equal(flag(args, "--threads-batch"), "2");
  assert.equal(flag(args, "--parallel"), "4");
  // -c is the whole KV cache: each of the 4 slots gets 1024 tokens.
  assert.equal(flag(args, "--ctx-size"), "4096");
  assert.ok(args.includes("--no-kv-unified"));
  assert.equal(flag(args, "--batch-size"), "512");
  assert.equal(flag(args, "--device"), "none");
  for (const f of ["--no-webui", "--offline", "--cache-prompt"]) assert.ok(args.includes(f), f);
  assert.ok(!args.includes("--metrics"));
  assert.ok(!args.includes("--embeddings"));
  assert.ok(!args.includes("--port"), "no TCP port: the Unix socket only");
  // No host prompt cache unless configured (llama-server's own default is 8 GiB).
  assert.equal(flag(args, "--cache-ram"), "0");
});

test("llama-server arguments: engine.promptCacheBytes is the host prompt cache's limit", () => {
  const MiB = 1024 * 1024;
  const flagFor = (promptCacheBytes: number) =>
    flag(
      buildServerArgs(spec, { socketPath: "/s.sock", apiKeyFile: "/k", promptCacheBytes }),
      "--cache-ram",
    );
  assert.equal(flagFor(96 * MiB), "96");
  // llama-server's unit is MiB: rounded down, so the process never exceeds the estimate.
  assert.equal(flagFor(96 * MiB + MiB / 2), "96");
});

test("llama-server arguments: the batch never exceeds the slot's context; gpu auto offloads", () => {
  const args = buildServerArgs(
    { ...spec, contextSize: 128, batchSize: 512, gpu: "auto" },
    { socketPath: "/s.sock", apiKeyFile: "/k", promptCacheBytes: 0 },
  );
  assert.equal(flag(args, "--batch-size"), "128");
  assert.equal(flag(args, "--device"), undefined);
});

test("the per-process API key is 64 hex characters", () => {
  assert.match(apiKeyFrom(new Uint8Array(32).fill(171)), /^(ab){32}$/);
});

const job: GenerationJob = {
  id: "j1",
  prompt: { tokens: [1, 2, 3], stopStrings: ["</s>"], stopTokens: [7] },
  sampling: {
    temperature: 0.7,
    topP: 0.9,
    topK: 40,
    minP: 0.05,
    seed: 42,
    presencePenalty: 0.5,
    frequencyPenalty: 0.25,
    logitBias: { 5: 2.5, 6: -Infinity },
  },
  maxTokens: 16,
  stop: ["\n\n"],
  ignoreEos: true,
};

test("a job maps to llama-server's /completion body", () => {
  const body = completionBody(job, "root ::= json");
  assert.deepEqual(body.prompt, [1, 2, 3]);
  assert.equal(body.stream, true);
  assert.equal(body.n_predict, 16);
  assert.equal(body.temperature, 0.7);
  assert.equal(body.top_p, 0.9);
  assert.equal(body.top_k, 40);
  assert.equal(body.min_p, 0.05);
  assert.equal(body.seed, 42);
  assert.equal(body.presence_penalty, 0.5);
  assert.equal(body.frequency_penalty, 0.25);
  assert.deepEqual(body.logit_bias, [
    [5, 2.5],
    [6, false],
  ]);
  assert.equal("stop" in body, false, "stop strings are matched by the gateway");
  assert.equal(body.ignore_eos, true);
  assert.equal(body.cache_prompt, true);
  assert.equal(body.return_tokens, true);
  assert.equal(body.grammar, undefined);
  // A parser that accepts any bytes: llama-server would otherwise fail non-UTF-8 output.
  assert.deepEqual(JSON.parse(body.chat_parser as string), {
    parsers: [{ type: "epsilon" }],
    rules: {},
    root: 0,
  });
  // JSON.stringify must keep every field (no -Infinity, which would become null).
  assert.deepEqual(JSON.parse(JSON.stringify(body)), body);
});

test("a resumed job continues after the tokens sent, which count toward max_tokens", () => {
  const body = completionBody({ ...job, resume: { tokens: [7, 8], pending: "" } }, "");
  assert.deepEqual(body.prompt, [1, 2, 3, 7, 8]);
  assert.equal(body.n_predict, 14);
});

test("grammars: json uses llama.cpp's JSON grammar, gbnf passes the text; no seed, no bias", () => {
  const plain = { ...job, sampling: { ...job.sampling, seed: undefined, logitBias: undefined } };
  const json = completionBody({ ...plain, grammar: { kind: "json" } }, "root ::= object");
  assert.equal(json.grammar, "root ::= object");
  assert.equal("seed" in json, false);
  assert.equal("logit_bias" in json, false);
  const gbnf = completionBody({ ...plain, grammar: { kind: "gbnf", text: 'root ::= "a"' } }, "x");
  assert.equal(gbnf.grammar, 'root ::= "a"');
  assert.deepEqual(logitBiasPairs({}), []);
});

test("SSE parser: events split anywhere, CRLF, multi-byte characters across chunks", () => {
  const parser = new SseLineParser();
  const bytes = Buffer.from('data: {"content":"é"}\r\n\r\ndata: {"content":"b"}\n\n', "utf8");
  const out: string[] = [];
  for (let i = 0; i < bytes.length; i++) out.push(...parser.push(bytes.subarray(i, i + 1)));
  assert.deepEqual(out, ['{"content":"é"}', '{"content":"b"}']);
  assert.deepEqual(parser.push(Buffer.from('error: {"error":{}}\n')), ['{"error":{}}']);
});

const plain = { promptTokens: 3, stopTokens: new Set<number>(), stopStrings: [] };

test("completion stream: text events carry their token ids; the last chunk gives done", () => {
  const stream = new CompletionStream(plain);
  const a = stream.push({ content: "Once", tokens: [10], stop: false, tokens_predicted: 1 });
  assert.deepEqual(a, {
    kind: "events",
    events: [{ type: "text", text: "Once", tokens: 1, ids: [10], pending: "" }],
    finished: false,
  });
  stream.push({ content: " upon", tokens: [11], stop: false, tokens_predicted: 2 });
  const end = stream.push({
    content: "",
    tokens: [],
    stop: true,
    stop_type: "limit",
    tokens_evaluated: 3,
    timings: { cache_n: 2, prompt_ms: 1.5, predicted_ms: 4 },
  });
  assert.deepEqual(end, {
    kind: "events",
    events: [
      {
        type: "done",
        finishReason: "length",
        promptTokens: 3,
        completionTokens: 2,
        timings: { cachedTokens: 2, promptMs: 1.5, generationMs: 4 },
      },
    ],
    finished: true,
  });
  assert.equal(stream.done, true);
});

test("completion stream: the end-of-generation token is not part of the completion", () => {
  const stream = new CompletionStream(plain);
  stream.push({ content: "Hi", tokens: [10], tokens_predicted: 1 });
  assert.deepEqual(stream.push({ content: "", tokens: [2], tokens_predicted: 2 }).kind, "events");
  const end = stream.push({ stop: true, stop_type: "eos" });
  assert.equal(end.kind, "events");
  if (end.kind !== "events") return;
  assert.deepEqual(end.events, [
    {
      type: "done",
      finishReason: "stop",
      promptTokens: 3,
      completionTokens: 1,
      timings: { cachedTokens: 0, promptMs: 0, generationMs: 0 },
    },
  ]);
});

test("completion stream: a chat format's stop token ends the job with stop, its text dropped", () => {
  const stream = new CompletionStream({ ...plain, stopTokens: new Set([99]) });
  stream.push({ content: "Hi", tokens: [10] });
  const end = stream.push({ content: "", tokens: [99] });
  assert.equal(end.kind, "events");
  if (end.kind !== "events") return;
  assert.equal(end.finished, true);
  assert.equal(end.events.length, 1);
  assert.equal(end.events[0]!.type, "done");
  if (end.events[0]!.type === "done") {
    assert.equal(end.events[0]!.finishReason, "stop");
    assert.equal(end.events[0]!.completionTokens, 1);
  }
});

test("completion stream: stop strings are found across chunks; held text is reported as pending", () => {
  const stream = new CompletionStream({ ...plain, stopStrings: ["Lily"] });
  const a = stream.push({ content: "named L", tokens: [5, 6], tokens_predicted: 2 });
  assert.deepEqual(a.kind === "events" && a.events, [
    { type: "text", text: "named ", tokens: 2, ids: [5, 6], pending: "L" },
  ]);
  const b = stream.push({ content: "il", tokens: [7], tokens_predicted: 3 });
  assert.deepEqual(b.kind === "events" && b.events, []);
  const c = stream.push({ content: "y.", tokens: [8], tokens_predicted: 4 });
  assert.equal(c.kind === "events" && c.finished, true);
  assert.deepEqual(c.kind === "events" && c.events.map((e) => e.type), ["done"]);
  const done = c.kind === "events" ? c.events[0] : undefined;
  assert.equal(done?.type === "done" && done.finishReason, "stop");
  assert.equal(done?.type === "done" && done.completionTokens, 4);
});

test("completion stream: a resumed job counts the sent tokens and re-holds their pending text", () => {
  const stream = new CompletionStream({
    ...plain,
    stopStrings: ["Lily"],
    resume: { tokens: [5, 6], pending: "L" },
  });
  const a = stream.push({ content: "ater", tokens: [9], tokens_predicted: 1 });
  assert.deepEqual(a.kind === "events" && a.events, [
    { type: "text", text: "Later", tokens: 1, ids: [9], pending: "" },
  ]);
  const end = stream.push({ stop: true, stop_type: "limit" });
  const done = end.kind === "events" ? end.events.at(-1) : undefined;
  assert.equal(done?.type === "done" && done.completionTokens, 3);
});

test("completion stream: a token withheld inside a UTF-8 character is counted, and ids stop", () => {
  const stream = new CompletionStream(plain);
  stream.push({ content: "a", tokens: [10], tokens_predicted: 1 });
  // Token 2 ended inside "é": llama-server sent no chunk for it.
  const b = stream.push({ content: "é", tokens: [12], tokens_predicted: 3 });
  assert.deepEqual(b.kind === "events" && b.events, [
    { type: "text", text: "é", tokens: 2, pending: "" },
  ]);
  assert.equal(stream.tokens, 3);
});

test("completion stream: an error chunk is an error; stop types map to finish reasons", () => {
  const stream = new CompletionStream(plain);
  assert.deepEqual(
    stream.push({ error: { code: 400, message: "bad grammar", type: "invalid_request_error" } }),
    { kind: "error", status: 400, message: "bad grammar", type: "invalid_request_error" },
  );
  assert.equal(finishReasonOf({ stop_type: "eos" }), "stop");
  assert.equal(finishReasonOf({ stop_type: "word" }), "stop");
  assert.equal(finishReasonOf({ stop_type: "limit" }), "length");
});

test("llama-server's error envelope is read into status, message and type", () => {
  const err = errorFrom(400, {
    error: { code: 400, message: "too long", type: "exceed_context_size_error" },
  });
  assert.equal(err.status, 400);
  assert.equal(err.message, "too long");
  assert.equal(err.type, "exceed_context_size_error");
  assert.equal(errorFrom(500, "x").message, "llama-server answered 500");
});

test("a missing binary names the setting and the build command", () => {
  const message = missingBinaryMessage("/nonexistent/llama-server");
  assert.match(message ?? "", /engine\.llamaServerBinary/);
  assert.match(message ?? "", /bulwark engine build/);
});

/** A character tokenizer standing in for llama-server's /tokenize; special text is one token. */
function fakeRemote(calls: string[]) {
  return async (text: string, parseSpecial: boolean): Promise<number[]> => {
    calls.push(`${parseSpecial ? "s" : "t"}:${text}`);
    if (!parseSpecial) return Array.from(text, (c) => c.codePointAt(0)!);
    return text
      .split(/(<[^>]*>)/)
      .flatMap((part) =>
        part === "<s>"
          ? [1]
          : part.startsWith("<")
            ? [1000 + part.length]
            : Array.from(part, (c) => c.codePointAt(0)!),
      );
  };
}

test("chat pieces: plain text is never parsed for special tokens; builtins come from the GGUF", async () => {
  const calls: string[] = [];
  const pieces = new PieceTokenizer(fakeRemote(calls), {
    bos: 1,
    eos: 2,
    eot: null,
    sep: null,
    bosString: "<s>",
  });
  const text = LlamaText([new SpecialToken("BOS"), "hi <x>", new SpecialTokensText("<end>")]);
  const [tokens] = await pieces.tokenize([text]);
  const chars = Array.from("hi <x>", (c) => c.codePointAt(0)!);
  assert.deepEqual(tokens, [1, ...chars, 1005]);
  assert.ok(calls.some((c) => c.startsWith("t:") && c.endsWith("hi <x>")));
  assert.ok(
    !calls.some((c) => c.startsWith("s:") && c.includes("hi")),
    "the user's text is never tokenized with special parsing",
  );
  // Cached: a second chat with the same pieces makes no call.
  const before = calls.length;
  await pieces.tokenize([text]);
  assert.equal(calls.length, before);
});

test("chat rendering: the Llama 2 chat wrapper's prompt and stop triggers", async () => {
  const pieces = new PieceTokenizer(fakeRemote([]), {
    bos: 1,
    eos: 2,
    eot: null,
    sep: null,
    bosString: "<s>",
  });
  const wrapper = new chatWrappers.llama2Chat();
  const prepared = await renderChat(wrapper, pieces, [
    { role: "system", content: "Be brief." },
    { role: "user", content: "Hello" },
  ]);
  assert.equal(prepared.tokens[0], 1, "starts with BOS");
  assert.ok(prepared.tokens.length > 10);
  assert.ok(prepared.stopTokens.includes(2), "EOS is a stop token");
  assert.equal(chatHistoryOf([{ role: "user", content: "x" }]).at(-1)?.type, "model");
});

test("llama-server output: its errors are errors, its routine lines debug, anything else a warning", () => {
  assert.equal(outputLevel("0.01.101.437 E srv  load_model: failed to load"), "error");
  assert.equal(outputLevel("0.01.101.437 W slot operator(): n_past was set to 4"), "debug");
  assert.equal(outputLevel("0.00.000.012 I main: loading model"), "debug");
  assert.equal(outputLevel("GGML_ASSERT(x) failed"), "warn");
});

test("control tokens are read from the GGUF's token types", () => {
  assert.deepEqual([...controlTokensOf([2, 3, 3, 1, 4, 1])], [1, 2]);
  assert.equal(controlTokensOf(undefined).size, 0);
});
