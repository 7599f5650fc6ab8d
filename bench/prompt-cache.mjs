// llama-server's host prompt cache (engine.promptCacheBytes) against none, on one replica of the
// llama-server backend with fewer slots than there are long shared prefixes: a repeat-mix run in
// which every prompt starts with one of 8 prefixes, with each setting in turn, alternating over
// rounds. Reports the prompt tokens served from cache (usage.prompt_tokens_details.
// cached_tokens), TTFT and output tokens/s, with the load average before each run.
//
//   node bench/prompt-cache.mjs [MODEL.gguf] [--num-prompts N] [--rounds R] [--cache-mib M]
//
// One llama.cpp thread, 2 slots of 1024 tokens, concurrency 2, 16 output tokens a request,
// prompts of 448 tokens of which 384 are the shared prefix; N requests (default 48) a run.
// Needs `bulwark engine build`.
import { serveAndBench } from "./serve-child.mjs";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at === -1 ? fallback : Number(args[at + 1]);
};
const model = args.find((a) => a.endsWith(".gguf")) ?? "/work/bench-models/random-134m-q8_0.gguf";
const n = option("--num-prompts", 48);
const rounds = option("--rounds", 2);
const cacheMiB = option("--cache-mib", 256);

async function run(promptCacheBytes, round) {
  const { load, metrics: m } = await serveAndBench({
    configLines: [
      "engine:",
      "  backend: llama-server",
      "  threads: 1",
      `  promptCacheBytes: ${promptCacheBytes}`,
      "models:",
      "  - name: m",
      `    path: ${model}`,
      "    replicas: 1",
      "    slots: 2",
      "    contextSize: 1024",
    ],
    benchArgs: [
      ...["--model", "m", "--dataset", "repeat-mix", "--repeat-share", "0"],
      ...["--prefix-share", "1", "--prefix-groups", "8", "--input-len", "448"],
      ...["--prefix-len", "384", "--output-len", "16", "--ignore-eos", "--temperature", "0.8"],
      ...["--num-prompts", String(n), "--concurrency", "2", "--seed", String(40 + round)],
    ],
  });
  return { promptCacheBytes, round, load, m };
}

const results = [];
for (let round = 1; round <= rounds; round++) {
  const order = round % 2 === 1 ? [0, cacheMiB] : [cacheMiB, 0];
  for (const mib of order) results.push(await run(mib * 1024 * 1024, round));
}
console.log(
  "| engine.promptCacheBytes | round | load average before | requests | cached / prompt tokens | share cached | TTFT p50 | TTFT p95 | output tok/s |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
for (const { promptCacheBytes, round, load, m } of results) {
  const p = m.prefixed;
  const share = ((100 * p.cachedTokens) / p.promptTokens).toFixed(1);
  const setting = promptCacheBytes === 0 ? "0" : `${promptCacheBytes / 1024 / 1024} MiB`;
  console.log(
    `| ${setting} | ${round} | ${load} | ${m.completed} (${m.failed} failed) | ${p.cachedTokens} / ${p.promptTokens} | ${share} % | ${p.ttftMs.median.toFixed(1)} ms | ${m.ttftMs.percentiles.p95.toFixed(1)} ms | ${m.outputThroughput.toFixed(1)} |`,
  );
}
