#!/usr/bin/env node
// What sampling costs per token in node-llama-cpp, by top-k: one sequence, one thread, the same
// prompt and seed, temperature 0.8, generating --output-len tokens for each top-k given. Bulwark
// sends topK 0 when a request has no top_k (OpenAI has none), and node-llama-cpp turns topK ≤ 0
// into top-k = the whole vocabulary, which sorts every candidate each token; llama-server's
// default is top_k 40. Prints one line a setting: ms per token, and sampleToken's share.
//   node bench/sampling-cost.mjs --model PATH [--top-k 0,40] [--output-len 64] [--runs 3]
import { parseArgs } from "node:util";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    "top-k": { type: "string", default: "0,40" },
    "output-len": { type: "string", default: "64" },
    runs: { type: "string", default: "3" },
  },
});
const llama = await getLlama({
  build: "never",
  gpu: false,
  maxThreads: 1,
  logLevel: LlamaLogLevel.error,
});
const model = await llama.loadModel({ modelPath: values.model, useMmap: true, gpuLayers: 0 });
const context = await model.createContext({ contextSize: 256, sequences: 1, threads: 1 });
// Time each sampleToken call (from the call to its result) on the context's addon object.
const addon = context._ctx;
const sample = addon.sampleToken.bind(addon);
let sampleMs = 0;
Object.defineProperty(addon, "sampleToken", {
  value: (...args) => {
    const start = performance.now();
    const result = sample(...args);
    void result.then(() => (sampleMs += performance.now() - start));
    return result;
  },
});
const prompt = model.tokenize("Once upon a time there was a little girl");
const outputLen = Number(values["output-len"]);
for (const topK of values["top-k"].split(",").map(Number)) {
  const perToken = [];
  const shares = [];
  for (let run = 0; run <= Number(values.runs); run++) {
    const sequence = context.getSequence();
    sampleMs = 0;
    let count = 0;
    const start = performance.now();
    for await (const _token of sequence.evaluate(prompt, { temperature: 0.8, topK, seed: 1 })) {
      if (++count >= outputLen) break;
    }
    const ms = performance.now() - start;
    sequence.dispose();
    // The first run warms up and is not counted.
    if (run > 0) {
      perToken.push(ms / count);
      shares.push(sampleMs / ms);
    }
  }
  const mean = (v) => v.reduce((a, b) => a + b, 0) / v.length;
  console.log(
    `topK ${topK}: ${mean(perToken).toFixed(2)} ms a token ` +
      `(runs ${perToken.map((x) => x.toFixed(2)).join(", ")}), ` +
      `sampleToken ${(mean(shares) * 100).toFixed(0)}% of it`,
  );
}
await context.dispose();
await model.dispose();
