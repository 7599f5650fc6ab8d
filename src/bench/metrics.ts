/**
 * Turns per-request outcomes into the metrics of `vllm bench serve`:
 * - TTFT: request sent → first streamed chunk that carries choices;
 * - ITL: every gap between consecutive chunks with choices after the first;
 * - E2E latency: request sent → last chunk with choices (the usage chunk does not count);
 * - TPOT: (E2E − TTFT) / (output tokens − 1), per request with more than one output token;
 * - throughputs: completed requests, output tokens, and input + output tokens per second of the
 *   benchmark's duration;
 * - goodput: completed requests per second whose TTFT, TPOT and E2E all meet the given SLOs
 *   (a request with one output token counts TPOT as 0 for goodput, as vLLM does).
 * Times are in ms.
 */
import { summarize, type Summary } from "./stats.js";

/** What the client saw for one request. */
export interface RequestOutcome {
  ok: boolean;
  /** Failure kind when not ok, e.g. "http_429:rate_limit_exceeded", "connection", "timeout". */
  errorKind?: string;
  errorMessage?: string;
  /** Ms from the benchmark's start to sending the request. */
  startMs: number;
  /** Ms spent waiting for the client's own --max-concurrency cap (not part of TTFT). */
  queueMs: number;
  ttftMs: number;
  /** Gaps between consecutive chunks with choices, in ms. */
  itlMs: number[];
  e2eMs: number;
  promptTokens: number;
  outputTokens: number;
  /** Whether the prompt was an exact repeat or shared a prefix (repeat-mix dataset). */
  cacheRole?: "repeat" | "prefix" | "unique";
  /** Prompt tokens the server reported as cached (usage.prompt_tokens_details), when it does. */
  cachedTokens?: number;
  /** Bulwark's `x-bulwark-cache` answer header (hit, semantic-hit, miss, bypass), when sent. */
  responseCache?: string;
}

/** Goodput SLOs in ms; an absent key is not checked. */
export interface GoodputSlo {
  ttft?: number;
  tpot?: number;
  e2el?: number;
}

export interface BenchMetrics {
  requests: number;
  completed: number;
  failed: number;
  failuresByKind: Record<string, number>;
  durationS: number;
  totalInputTokens: number;
  totalOutputTokens: number;
  requestThroughput: number;
  outputThroughput: number;
  totalTokenThroughput: number;
  /** Requests/s meeting every SLO; null when no SLO was given. */
  goodput: number | null;
  goodCompleted: number | null;
  errorRate: number;
  ttftMs: Summary;
  tpotMs: Summary;
  itlMs: Summary;
  e2eMs: Summary;
  /** Client-side queue time under --max-concurrency. */
  queueMs: Summary;
  /** Share of prompt tokens the server reported as cached; null when it reported none. */
  cacheHitRate: number | null;
  /**
   * Share of completed requests the server answered from its response cache (Bulwark's
   * `x-bulwark-cache: hit` or `semantic-hit`); null when no answer carried the header.
   */
  responseHitRate: number | null;
  /** E2E latency of the requests answered from the response cache. */
  hitE2eMs: Summary;
  /**
   * The repeat-mix requests that began with a shared prefix: their prompt tokens, those the
   * server reported cached, and their TTFT; null when there were none.
   */
  prefixed: { promptTokens: number; cachedTokens: number; ttftMs: Summary } | null;
}

/** TPOT of one request, or undefined with one output token or fewer. */
export function tpotOf(o: Pick<RequestOutcome, "e2eMs" | "ttftMs" | "outputTokens">) {
  return o.outputTokens > 1 ? (o.e2eMs - o.ttftMs) / (o.outputTokens - 1) : undefined;
}

/** Parses "ttft:500 tpot:50 e2el:5000" (ms) into SLOs. */
export function parseGoodput(spec: string | readonly string[]): GoodputSlo {
  const parts = (typeof spec === "string" ? [spec] : spec).flatMap((s) => s.split(/[\s,]+/));
  const slo: GoodputSlo = {};
  for (const part of parts.filter(Boolean)) {
    const m = /^(ttft|tpot|e2el):(\d+(?:\.\d+)?)$/.exec(part);
    if (!m) {
      throw new RangeError(
        `goodput "${part}" is not KEY:MS with KEY one of ttft, tpot, e2el (e.g. ttft:500)`,
      );
    }
    slo[m[1] as keyof GoodputSlo] = Number(m[2]);
  }
  return slo;
}

export function computeMetrics(
  outcomes: readonly RequestOutcome[],
  durationMs: number,
  slo?: GoodputSlo,
): BenchMetrics {
  const done = outcomes.filter((o) => o.ok);
  const failuresByKind: Record<string, number> = {};
  for (const o of outcomes) {
    if (!o.ok) {
      const kind = o.errorKind ?? "unknown";
      failuresByKind[kind] = (failuresByKind[kind] ?? 0) + 1;
    }
  }
  const tpots = done.map(tpotOf).filter((t): t is number => t !== undefined);
  const totalInput = done.reduce((n, o) => n + o.promptTokens, 0);
  const totalOutput = done.reduce((n, o) => n + o.outputTokens, 0);
  const seconds = durationMs / 1000;
  const perSecond = (n: number) => (seconds > 0 ? n / seconds : 0);
  const checked = slo && Object.keys(slo).length > 0 ? slo : undefined;
  const good = checked
    ? done.filter(
        (o) =>
          (checked.ttft === undefined || o.ttftMs <= checked.ttft) &&
          (checked.tpot === undefined || (tpotOf(o) ?? 0) <= checked.tpot) &&
          (checked.e2el === undefined || o.e2eMs <= checked.e2el),
      ).length
    : null;
  const reported = done.filter((o) => o.cachedTokens !== undefined);
  const withHeader = done.filter((o) => o.responseCache !== undefined);
  const hits = withHeader.filter(
    (o) => o.responseCache === "hit" || o.responseCache === "semantic-hit",
  );
  const reportedPrompt = reported.reduce((n, o) => n + o.promptTokens, 0);
  return {
    requests: outcomes.length,
    completed: done.length,
    failed: outcomes.length - done.length,
    failuresByKind,
    durationS: seconds,
    totalInputTokens: totalInput,
    totalOutputTokens: totalOutput,
    requestThroughput: perSecond(done.length),
    outputThroughput: perSecond(totalOutput),
    totalTokenThroughput: perSecond(totalInput + totalOutput),
    goodput: good === null ? null : perSecond(good),
    goodCompleted: good,
    errorRate: outcomes.length === 0 ? 0 : (outcomes.length - done.length) / outcomes.length,
    ttftMs: summarize(done.map((o) => o.ttftMs)),
    tpotMs: summarize(tpots),
    itlMs: summarize(done.flatMap((o) => o.itlMs)),
    e2eMs: summarize(done.map((o) => o.e2eMs)),
    queueMs: summarize(outcomes.map((o) => o.queueMs)),
    cacheHitRate:
      reported.length > 0 && reportedPrompt > 0
        ? reported.reduce((n, o) => n + o.cachedTokens!, 0) / reportedPrompt
        : null,
    responseHitRate: withHeader.length > 0 ? hits.length / withHeader.length : null,
    hitE2eMs: summarize(hits.map((o) => o.e2eMs)),
    prefixed: prefixedOf(done),
  };
}

function prefixedOf(done: readonly RequestOutcome[]): BenchMetrics["prefixed"] {
  const prefixed = done.filter((o) => o.cacheRole === "prefix");
  if (prefixed.length === 0) return null;
  return {
    promptTokens: prefixed.reduce((n, o) => n + o.promptTokens, 0),
    cachedTokens: prefixed.reduce((n, o) => n + (o.cachedTokens ?? 0), 0),
    ttftMs: summarize(prefixed.map((o) => o.ttftMs)),
  };
}
