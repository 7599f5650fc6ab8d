/**
 * One bench run from options to result: connect, build the prompts, run the load, compute the
 * metrics, and assemble the JSON result that --output writes.
 */
import { createTarget } from "./http.js";
import { buildDataset, type DatasetOptions } from "./datasets.js";
import { arrivalOffsets } from "./schedule.js";
import {
  computeMetrics,
  type BenchMetrics,
  type GoodputSlo,
  type RequestOutcome,
} from "./metrics.js";
import { runLoad, type LoadMode } from "./runner.js";
import { sendStreaming } from "./stream-request.js";
import { sendPlain } from "./plain-request.js";
import { connectTokenizer } from "./tokenizer.js";
import { verdicts, type Verdict } from "./report.js";
import { progressDisplay } from "../util/progress-display.js";

export interface BenchOptions extends DatasetOptions {
  url: string;
  model: string;
  apiKey?: string;
  endpoint: "completions" | "chat";
  /** Requests/s for open-loop arrivals; undefined with --concurrency. */
  requestRate?: number;
  burstiness: number;
  concurrency?: number;
  maxConcurrency?: number;
  warmup: number;
  ignoreEos: boolean;
  temperature?: number;
  extraBody?: Record<string, unknown>;
  /** false: non-streamed requests, whose whole latency is the TTFT (no ITL). */
  stream: boolean;
  timeoutMs: number;
  goodput?: GoodputSlo;
  /** Show the progress bar (stderr). */
  progress: boolean;
}

export interface BenchResult {
  date: string;
  url: string;
  model: string;
  /** The options, without the API key. */
  config: Record<string, unknown>;
  /** "vllm" (vLLM, Bulwark) or "llama.cpp": the /tokenize shape the server answered in. */
  tokenizer: string | null;
  metrics: BenchMetrics;
  verdicts: Verdict[];
  /** Every measured request, in dataset order. */
  requests: RequestOutcome[];
}

export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const target = createTarget(options.url, options.apiKey);
  try {
    const needsTokenizer = options.dataset === "random" || options.dataset === "repeat-mix";
    const tok = needsTokenizer ? await connectTokenizer(target, options.model) : undefined;
    const prompts = options.numPrompts + options.warmup;
    const prep = options.progress ? progressDisplay("prompts", "items") : undefined;
    prep?.update(0, prompts);
    const all = await buildDataset({ ...options, numPrompts: prompts }, tok, (done) =>
      prep?.update(done, prompts),
    );
    prep?.end();
    const warmup = all.slice(0, options.warmup);
    const requests = all.slice(options.warmup);
    const mode: LoadMode =
      options.concurrency !== undefined
        ? { kind: "concurrency", concurrency: options.concurrency }
        : {
            kind: "rate",
            offsetsMs: arrivalOffsets(
              requests.length,
              options.requestRate ?? Infinity,
              options.burstiness,
              options.seed,
            ),
            maxConcurrency: options.maxConcurrency,
          };
    const bar = options.progress ? progressDisplay("requests", "items") : undefined;
    bar?.update(0, requests.length);
    let done = 0;
    let failed = 0;
    const send = options.stream ? sendStreaming : sendPlain;
    const run = await runLoad(
      requests,
      warmup,
      mode,
      (req) => send(target, req, options),
      (o) => {
        done++;
        if (!o.ok) failed++;
        bar?.update(done, requests.length, { failed });
      },
    );
    bar?.end();
    const metrics = computeMetrics(run.outcomes, run.durationMs, options.goodput);
    const { apiKey: _omit, progress: _p, ...config } = options;
    return {
      date: new Date().toISOString(),
      url: target.base,
      model: options.model,
      config: {
        ...config,
        // JSON has no Infinity: an unbounded rate (the default) is written "inf".
        requestRate:
          options.concurrency !== undefined
            ? null
            : Number.isFinite(options.requestRate ?? Infinity)
              ? options.requestRate
              : "inf",
      },
      tokenizer: tok?.flavor ?? null,
      metrics,
      verdicts: verdicts(metrics),
      requests: run.outcomes,
    };
  } finally {
    target.agent.destroy();
  }
}
