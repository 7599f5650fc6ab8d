// Prefix-affinity against least-outstanding routing on two local replicas of one model: the
// same repeat-mix run (every prompt starts with one of several shared prefixes) against a
// `bulwark serve` started with each routing policy in turn. Reports, for the prefixed requests,
// the prompt tokens served from the replicas' KV prefix cache (usage.prompt_tokens_details.
// cached_tokens) and their TTFT p50, with the machine's load average before each run.
//
//   node bench/prefix-affinity.mjs [MODEL.gguf] [--num-prompts N]
//
// Two replicas with one llama.cpp thread each (the two cores of this machine). The run is
// bounded: N requests (default 160) at concurrency 4, 16 output tokens each.
import { serveAndBench } from "./serve-child.mjs";

const args = process.argv.slice(2);
const model = args.find((a) => a.endsWith(".gguf")) ?? "/work/shared/models/stories260K.gguf";
const n = Number(args[args.indexOf("--num-prompts") + 1]) || 160;

async function run(routing) {
  const { load, metrics: m } = await serveAndBench({
    configLines: [
      "engine:",
      "  threads: 1",
      "models:",
      "  - name: m",
      `    path: ${model}`,
      "    replicas: 2",
      "    slots: 4",
      "    contextSize: 1024",
      `    routing: ${routing}`,
    ],
    benchArgs: [
      "--model",
      "m",
      "--dataset",
      "repeat-mix",
      "--repeat-share",
      "0",
      "--prefix-share",
      "1",
      "--prefix-groups",
      "8",
      "--input-len",
      "256",
      "--prefix-len",
      "192",
      "--output-len",
      "16",
      "--ignore-eos",
      "--temperature",
      "0.8",
      "--num-prompts",
      String(n),
      "--concurrency",
      "4",
      "--seed",
      "7",
    ],
  });
  return { routing, load, ...m.prefixed, failed: m.failed, completed: m.completed };
}

const results = [];
for (const routing of ["least-outstanding", "prefix-affinity"]) results.push(await run(routing));
console.log(
  "| routing | load average (1/5/15 min) before | prefixed requests | cached / prompt tokens | share cached | TTFT p50 |",
);
console.log("| --- | --- | --- | --- | --- | --- |");
for (const r of results) {
  const share = ((100 * r.cachedTokens) / r.promptTokens).toFixed(1);
  console.log(
    `| ${r.routing} | ${r.load} | ${r.completed} (${r.failed} failed) | ${r.cachedTokens} / ${r.promptTokens} | ${share} % | ${r.ttftMs.median.toFixed(1)} ms |`,
  );
}
