/**
 * The bench's outputs besides the chart: the markdown summary (the same rows as
 * `vllm bench serve` prints) and the verdict lines for the product's KPIs: P95 latency < 5 s,
 * error rate < 1%, throughput in tokens/s, and cache hit rate > 60%.
 */
import type { BenchMetrics } from "./metrics.js";
import type { Summary } from "./stats.js";

export interface Verdict {
  kpi: string;
  /** null: not measurable in this run (e.g. the server reports no cached tokens). */
  pass: boolean | null;
  line: string;
}

/** KPI thresholds from the product's requirements. */
export const KPI = { p95LatencyMs: 5_000, errorRate: 0.01, cacheHitRate: 0.6 } as const;

const ms = (v: number) => `${v.toFixed(2)} ms`;
const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
const mark = (pass: boolean | null) => (pass === null ? "N/A " : pass ? "PASS" : "FAIL");

export function verdicts(m: BenchMetrics): Verdict[] {
  const p95 = m.e2eMs.percentiles.p95 ?? 0;
  const out: Verdict[] = [];
  const latencyPass = m.completed > 0 ? p95 < KPI.p95LatencyMs : null;
  out.push({
    kpi: "p95_latency",
    pass: latencyPass,
    line: `${mark(latencyPass)} P95 end-to-end latency < 5 s: ${ms(p95)}`,
  });
  const errPass = m.requests > 0 ? m.errorRate < KPI.errorRate : null;
  out.push({
    kpi: "error_rate",
    pass: errPass,
    line: `${mark(errPass)} error rate < 1%: ${pct(m.errorRate)} (${m.failed} of ${m.requests})`,
  });
  out.push({
    kpi: "throughput",
    pass: null,
    line: `INFO throughput: ${m.outputThroughput.toFixed(2)} output tokens/s, ${m.totalTokenThroughput.toFixed(2)} total tokens/s`,
  });
  const cachePass = m.cacheHitRate === null ? null : m.cacheHitRate > KPI.cacheHitRate;
  out.push({
    kpi: "cache_hit_rate",
    pass: cachePass,
    line:
      m.cacheHitRate === null
        ? "N/A  cache hit rate > 60%: the server reported no cached prompt tokens"
        : `${mark(cachePass)} cache hit rate > 60%: ${pct(m.cacheHitRate)} of prompt tokens`,
  });
  if (m.prefixed) {
    const p = m.prefixed;
    out.push({
      kpi: "prefixed_requests",
      pass: null,
      line:
        `INFO prefixed requests: ${p.cachedTokens} of ${p.promptTokens} prompt tokens from the ` +
        `KV prefix cache (${pct(p.promptTokens > 0 ? p.cachedTokens / p.promptTokens : 0)}); ` +
        `TTFT p50 ${ms(p.ttftMs.median)}`,
    });
  }
  if (m.responseHitRate !== null) {
    const hitP50 = m.hitE2eMs.median;
    const hitP99 = m.hitE2eMs.percentiles.p99 ?? 0;
    out.push({
      kpi: "response_cache",
      pass: null,
      line:
        `INFO response cache: ${pct(m.responseHitRate)} of requests answered from it` +
        (m.responseHitRate > 0 ? `; their E2E latency p50 ${ms(hitP50)}, p99 ${ms(hitP99)}` : ""),
    });
  }
  return out;
}

function latencyRows(name: string, s: Summary): string[] {
  return [
    `| Mean ${name} (ms) | ${s.mean.toFixed(2)} |`,
    `| Median ${name} (ms) | ${s.median.toFixed(2)} |`,
    `| Std ${name} (ms) | ${s.std.toFixed(2)} |`,
    ...Object.entries(s.percentiles).map(
      ([p, v]) => `| ${p.toUpperCase()} ${name} (ms) | ${v.toFixed(2)} |`,
    ),
  ];
}

/** The markdown summary: one two-column table and the verdict lines. */
export function markdownSummary(m: BenchMetrics, title: string): string {
  const failures = Object.entries(m.failuresByKind)
    .map(([k, n]) => `${k} ${n}`)
    .join(", ");
  const rows = [
    `| Successful requests | ${m.completed} |`,
    `| Failed requests | ${m.failed}${failures ? ` (${failures})` : ""} |`,
    `| Benchmark duration (s) | ${m.durationS.toFixed(2)} |`,
    `| Total input tokens | ${m.totalInputTokens} |`,
    `| Total generated tokens | ${m.totalOutputTokens} |`,
    `| Request throughput (req/s) | ${m.requestThroughput.toFixed(2)} |`,
    ...(m.goodput === null ? [] : [`| Request goodput (req/s) | ${m.goodput.toFixed(2)} |`]),
    `| Output token throughput (tok/s) | ${m.outputThroughput.toFixed(2)} |`,
    `| Total token throughput (tok/s) | ${m.totalTokenThroughput.toFixed(2)} |`,
    ...latencyRows("TTFT", m.ttftMs),
    ...latencyRows("TPOT", m.tpotMs),
    ...latencyRows("ITL", m.itlMs),
    ...latencyRows("E2EL", m.e2eMs),
    `| Mean client queue time (ms) | ${m.queueMs.mean.toFixed(2)} |`,
    `| P99 client queue time (ms) | ${(m.queueMs.percentiles.p99 ?? 0).toFixed(2)} |`,
  ];
  return [
    `## ${title}`,
    "",
    "| Metric | Value |",
    "|---|---|",
    ...rows,
    "",
    ...verdicts(m).map((v) => `- ${v.line}`),
    "",
  ].join("\n");
}
