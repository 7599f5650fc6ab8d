/** `bulwark bench`: a load generator for any OpenAI-compatible server, with vLLM's metrics. */
import type { Command } from "commander";
import { writeFile } from "node:fs/promises";
import { CliError } from "./cli-error.js";
import {
  markdownSummary,
  parseGoodput,
  renderChart,
  runBench,
  type BenchOptions,
} from "../bench/index.js";

function number(name: string, min: number, integer: boolean) {
  return (value: string): number => {
    const n = value === "inf" && !integer ? Infinity : Number(value);
    if (Number.isNaN(n) || n < min || (integer && !Number.isInteger(n))) {
      throw new CliError(
        `--${name} must be ${integer ? "an integer" : "a number"} >= ${min}, got "${value}"`,
        2,
      );
    }
    return n;
  };
}

function share(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!(n >= 0 && n <= 1))
      throw new CliError(`--${name} must be between 0 and 1, got "${value}"`, 2);
    return n;
  };
}

interface BenchFlags {
  url: string;
  model: string;
  apiKey?: string;
  endpoint: string;
  dataset: string;
  datasetPath?: string;
  numPrompts: number;
  warmup: number;
  inputLen: number;
  outputLen: number;
  requestRate?: number;
  burstiness: number;
  concurrency?: number;
  maxConcurrency?: number;
  seed: number;
  ignoreEos?: boolean;
  extraBody?: string;
  temperature?: number;
  goodput?: string[];
  repeatShare: number;
  prefixShare: number;
  prefixLen?: number;
  prefixGroups: number;
  timeout: number;
  output?: string;
  markdown?: string;
  chart?: string;
  label?: string;
  progress: boolean;
  stream: boolean;
}

export function registerBench(program: Command): void {
  program
    .command("bench")
    .description(
      "Benchmark an OpenAI-compatible server (Bulwark, llama.cpp's server, vLLM) with streaming " +
        "(or, with --no-stream, plain) requests; reports TTFT, TPOT, ITL and E2E latency as " +
        "`vllm bench serve` defines them.",
    )
    .requiredOption("--url <url>", "server base URL, e.g. http://127.0.0.1:8080")
    .requiredOption("--model <name>", "model name sent in each request")
    .option("--api-key <key>", "bearer token (default: $OPENAI_API_KEY)")
    .option("--endpoint <api>", "completions or chat", "completions")
    .option("--dataset <name>", "random, builtin, jsonl or repeat-mix", "random")
    .option("--dataset-path <file>", "the JSONL file for --dataset jsonl")
    .option("--num-prompts <n>", "measured requests", number("num-prompts", 1, true), 100)
    .option("--warmup <n>", "unmeasured requests sent first", number("warmup", 0, true), 0)
    .option(
      "--input-len <tokens>",
      "prompt length for random and repeat-mix, exact by the server's /tokenize",
      number("input-len", 1, true),
      128,
    )
    .option(
      "--output-len <tokens>",
      "max_tokens of each request",
      number("output-len", 1, true),
      128,
    )
    .option(
      "--request-rate <r>",
      "open-loop arrivals per second, or inf (default inf)",
      number("request-rate", 0, false),
    )
    .option(
      "--burstiness <k>",
      "gamma shape of arrival gaps: 1 Poisson, <1 burstier (default 1)",
      number("burstiness", 0, false),
      1,
    )
    .option(
      "--concurrency <c>",
      "closed loop: C requests always in flight (instead of --request-rate)",
      number("concurrency", 1, true),
    )
    .option(
      "--max-concurrency <c>",
      "cap on requests in flight under --request-rate; waits count as client queue time",
      number("max-concurrency", 1, true),
    )
    .option("--seed <n>", "seed for prompts and arrival times", number("seed", 0, true), 0)
    .option(
      "--ignore-eos",
      "ask the server to ignore end-of-sequence so outputs are --output-len long",
    )
    .option(
      "--temperature <t>",
      "sampling temperature sent with each request",
      number("temperature", 0, false),
    )
    .option(
      "--extra-body <json>",
      "a JSON object whose fields are added to every request body (they override the bench's own)",
    )
    .option(
      "--no-stream",
      "plain requests (stream: false): TTFT is the whole latency, no ITL, output tokens from usage",
    )
    .option("--goodput <slo...>", "SLOs in ms for goodput: ttft:MS tpot:MS e2el:MS")
    .option(
      "--repeat-share <f>",
      "repeat-mix: share of exact repeats (default 0.5)",
      share("repeat-share"),
      0.5,
    )
    .option(
      "--prefix-share <f>",
      "repeat-mix: share of prompts with the shared prefix (default 0.3)",
      share("prefix-share"),
      0.3,
    )
    .option(
      "--prefix-len <tokens>",
      "repeat-mix: shared prefix length (default: half of --input-len)",
      number("prefix-len", 1, true),
    )
    .option(
      "--prefix-groups <n>",
      "repeat-mix: distinct shared prefixes, one drawn per prefixed prompt (default 1)",
      number("prefix-groups", 1, true),
      1,
    )
    .option(
      "--timeout <s>",
      "per-request limit in seconds (default 600)",
      number("timeout", 0.001, false),
      600,
    )
    .option("--output <file>", "write the JSON result here")
    .option("--markdown <file>", "write the markdown summary here (it is printed either way)")
    .option("--chart <file>", "write an SVG chart of latency percentiles and throughput here")
    .option("--label <title>", "title of the summary and chart")
    .option("--no-progress", "no progress bar")
    .action(async (flags: BenchFlags) => {
      if (flags.concurrency !== undefined && flags.requestRate !== undefined) {
        throw new CliError("give --concurrency or --request-rate, not both", 2);
      }
      if (flags.concurrency !== undefined && flags.maxConcurrency !== undefined) {
        throw new CliError(
          "--max-concurrency applies to --request-rate; --concurrency is already fixed",
          2,
        );
      }
      if (!["completions", "chat"].includes(flags.endpoint)) {
        throw new CliError(`--endpoint must be completions or chat, got "${flags.endpoint}"`, 2);
      }
      if (!["random", "builtin", "jsonl", "repeat-mix"].includes(flags.dataset)) {
        throw new CliError(
          `--dataset must be random, builtin, jsonl or repeat-mix, got "${flags.dataset}"`,
          2,
        );
      }
      const extraBody = flags.extraBody === undefined ? undefined : parseExtraBody(flags.extraBody);
      let goodput;
      try {
        goodput = flags.goodput ? parseGoodput(flags.goodput) : undefined;
      } catch (err) {
        throw new CliError(`--goodput: ${(err as Error).message}`, 2);
      }
      const options: BenchOptions = {
        url: flags.url,
        model: flags.model,
        apiKey: flags.apiKey ?? process.env.OPENAI_API_KEY,
        endpoint: flags.endpoint as BenchOptions["endpoint"],
        dataset: flags.dataset as BenchOptions["dataset"],
        path: flags.datasetPath,
        numPrompts: flags.numPrompts,
        warmup: flags.warmup,
        inputLen: flags.inputLen,
        outputLen: flags.outputLen,
        requestRate: flags.concurrency === undefined ? flags.requestRate : undefined,
        burstiness: flags.burstiness,
        concurrency: flags.concurrency,
        maxConcurrency: flags.maxConcurrency,
        seed: flags.seed,
        ignoreEos: flags.ignoreEos === true,
        extraBody,
        temperature: flags.temperature,
        stream: flags.stream,
        timeoutMs: flags.timeout * 1000,
        goodput,
        repeatShare: flags.repeatShare,
        prefixShare: flags.prefixShare,
        prefixLen: flags.prefixLen ?? Math.max(1, Math.floor(flags.inputLen / 2)),
        prefixGroups: flags.prefixGroups,
        progress: flags.progress,
      };
      let result;
      try {
        result = await runBench(options);
      } catch (err) {
        throw new CliError((err as Error).message, 1);
      }
      const title = flags.label ?? `bulwark bench: ${options.model} at ${result.url}`;
      const summary = markdownSummary(result.metrics, title);
      process.stdout.write(summary);
      if (flags.output) await writeFile(flags.output, JSON.stringify(result, null, 2) + "\n");
      if (flags.markdown) await writeFile(flags.markdown, summary);
      if (flags.chart)
        await writeFile(flags.chart, renderChart(result.metrics, result.requests, title));
    });
}

/** --extra-body: a JSON object, or exit 2 naming the flag. */
function parseExtraBody(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CliError(`--extra-body is not JSON: ${(err as Error).message}`, 2);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new CliError("--extra-body must be a JSON object", 2);
  }
  return value as Record<string, unknown>;
}
