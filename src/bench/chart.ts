/**
 * An SVG chart of one bench run, with no dependencies: on the left, grouped bars of the p50,
 * p90, p95 and p99 of TTFT, TPOT, ITL and E2E latency (each metric on its own scale, labelled);
 * on the right, output tokens per second over the run, in about 40 buckets (at least 100 ms).
 */
import type { BenchMetrics, RequestOutcome } from "./metrics.js";

const COLORS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2"];
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** Output tokens per bucket of `bucketMs`, spreading each request's tokens over its chunks. */
export function throughputSeries(
  outcomes: readonly RequestOutcome[],
  durationMs: number,
  bucketMs = 1000,
): number[] {
  const buckets = new Array<number>(Math.max(1, Math.ceil(durationMs / bucketMs))).fill(0);
  for (const o of outcomes) {
    if (!o.ok) continue;
    const chunks = o.itlMs.length + 1;
    const perChunk = o.outputTokens / chunks;
    let t = o.startMs + o.ttftMs;
    for (let i = 0; i < chunks; i++) {
      if (i > 0) t += o.itlMs[i - 1]!;
      const b = Math.min(buckets.length - 1, Math.max(0, Math.floor(t / bucketMs)));
      buckets[b]! += perChunk;
    }
  }
  return buckets.map((n) => (n * 1000) / bucketMs);
}

export function renderChart(
  m: BenchMetrics,
  outcomes: readonly RequestOutcome[],
  title: string,
): string {
  const W = 900;
  const H = 360;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="10" y="18" font-size="14" font-weight="bold">${esc(title)}</text>`,
  );
  // Latency percentiles: four groups, each scaled to its own maximum.
  const metrics: [string, BenchMetrics["ttftMs"]][] = [
    ["TTFT", m.ttftMs],
    ["TPOT", m.tpotMs],
    ["ITL", m.itlMs],
    ["E2E", m.e2eMs],
  ];
  const ps = ["p50", "p90", "p95", "p99"];
  const top = 50;
  const plotH = 240;
  const groupW = 110;
  metrics.forEach(([name, s], g) => {
    const x0 = 20 + g * groupW;
    const max = Math.max(...ps.map((p) => s.percentiles[p] ?? 0), 1e-9);
    ps.forEach((p, i) => {
      const v = s.percentiles[p] ?? 0;
      const h = (v / max) * plotH;
      const x = x0 + i * 24;
      parts.push(
        `<rect x="${x}" y="${top + plotH - h}" width="20" height="${h}" fill="${COLORS[i]}"><title>${name} ${p} ${v.toFixed(2)} ms</title></rect>`,
      );
    });
    parts.push(
      `<text x="${x0}" y="${top + plotH + 16}" font-weight="bold">${name}</text>`,
      `<text x="${x0}" y="${top + plotH + 30}">p99 ${(s.percentiles.p99 ?? 0).toFixed(1)} ms</text>`,
      `<text x="${x0}" y="${top + plotH + 44}">p50 ${(s.percentiles.p50 ?? 0).toFixed(1)} ms</text>`,
    );
  });
  ps.forEach((p, i) => {
    parts.push(
      `<rect x="${20 + i * 60}" y="30" width="10" height="10" fill="${COLORS[i]}"/>`,
      `<text x="${34 + i * 60}" y="39">${p}</text>`,
    );
  });
  // Throughput over time.
  const durationMs = m.durationS * 1000;
  const bucketMs = Math.max(100, Math.ceil(durationMs / 40 / 100) * 100);
  const series = throughputSeries(outcomes, durationMs, bucketMs);
  const tx = 480;
  const tw = 390;
  const tmax = Math.max(...series, 1e-9);
  const points = series
    .map((v, i) => {
      const x = tx + (series.length === 1 ? tw / 2 : (i / (series.length - 1)) * tw);
      return `${x.toFixed(1)},${(top + plotH - (v / tmax) * plotH).toFixed(1)}`;
    })
    .join(" ");
  parts.push(
    `<text x="${tx}" y="39" font-weight="bold">output tokens/s (${bucketMs / 1000} s buckets), max ${tmax.toFixed(1)}</text>`,
    `<line x1="${tx}" y1="${top + plotH}" x2="${tx + tw}" y2="${top + plotH}" stroke="#999"/>`,
    `<line x1="${tx}" y1="${top}" x2="${tx}" y2="${top + plotH}" stroke="#999"/>`,
    `<polyline fill="none" stroke="${COLORS[0]}" stroke-width="2" points="${points}"/>`,
    `<text x="${tx}" y="${top + plotH + 16}">0 s</text>`,
    `<text x="${tx + tw - 30}" y="${top + plotH + 16}">${m.durationS.toFixed(1)} s</text>`,
    `<text x="${tx}" y="${top + plotH + 30}">mean ${m.outputThroughput.toFixed(1)} output tok/s, ${m.requestThroughput.toFixed(2)} req/s</text>`,
    `</svg>`,
  );
  return parts.join("\n") + "\n";
}
