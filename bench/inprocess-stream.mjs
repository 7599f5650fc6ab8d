#!/usr/bin/env node
// The in-process baseline for one stream: node-llama-cpp with no HTTP, no worker and no
// gateway, generating --output-len tokens (greedy, end-of-sequence ignored) after a prompt of
// --input-len tokens. Prints one JSON line: {ttftMs, tpotMs, outputTokensPerS, e2eMs}, with
// TTFT and TPOT defined as `bulwark bench` defines them. Used by compare-llama-server.mjs.
//   node bench/inprocess-stream.mjs --model PATH [--threads 1] [--input-len 32] [--output-len 64]
import { parseArgs } from "node:util";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    threads: { type: "string", default: "1" },
    "input-len": { type: "string", default: "32" },
    "output-len": { type: "string", default: "64" },
    runs: { type: "string", default: "3" },
  },
});
const threads = Number(values.threads);
const inputLen = Number(values["input-len"]);
const outputLen = Number(values["output-len"]);
const llama = await getLlama({
  build: "never",
  gpu: false,
  maxThreads: threads,
  logLevel: LlamaLogLevel.error,
});
const model = await llama.loadModel({ modelPath: values.model, useMmap: true, gpuLayers: 0 });
const context = await model.createContext({ contextSize: 512, sequences: 1, threads });
const words = "Once upon a time there was a little girl named Lily who loved to play outside ";
let text = words;
while (model.tokenize(text).length < inputLen) text += words;
const prompt = [model.tokens.bos, ...model.tokenize(text)]
  .filter((t) => t != null)
  .slice(0, inputLen);

const results = [];
for (let run = 0; run < Number(values.runs) + 1; run++) {
  const sequence = context.getSequence();
  const st = performance.now();
  let first = 0;
  let last = 0;
  let count = 0;
  for await (const _token of sequence.evaluate(prompt, { temperature: 0 })) {
    last = performance.now();
    if (count === 0) first = last - st;
    if (++count >= outputLen) break;
  }
  sequence.dispose();
  const e2e = last - st;
  // The first run warms up and is not counted.
  if (run > 0) {
    results.push({
      ttftMs: first,
      tpotMs: (e2e - first) / (count - 1),
      e2eMs: e2e,
      outputTokensPerS: (count * 1000) / e2e,
    });
  }
}
const median = (key) => {
  const v = results.map((r) => r[key]).sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)];
};
console.log(
  JSON.stringify({
    ttftMs: median("ttftMs"),
    tpotMs: median("tpotMs"),
    e2eMs: median("e2eMs"),
    outputTokensPerS: median("outputTokensPerS"),
    runs: results,
  }),
);
await context.dispose();
await model.dispose();
await llama.dispose();
