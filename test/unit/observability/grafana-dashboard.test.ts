/**
 * deploy/grafana/bulwark.json: one panel per seed KPI plus engine, queue, cache and limit rows,
 * and every metric its PromQL queries is one the server's registry exports.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Metrics } from "../../../src/observability/index.js";
import { repoRoot } from "../../helpers/paths.js";

interface Panel {
  type: string;
  title: string;
  targets?: { expr: string }[];
  fieldConfig?: { defaults: { thresholds?: { steps: { value: number | null }[] } } };
}
const dashboard = JSON.parse(
  readFileSync(join(repoRoot(), "deploy", "grafana", "bulwark.json"), "utf8"),
) as {
  panels: Panel[];
  templating: { list: { definition?: string }[] };
};

const KEYWORDS = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "and",
  "or",
  "unless",
  "bool",
  "offset",
  "inf",
  "nan",
]);

/** The metric names a PromQL expression selects (not functions, labels or keywords). */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // strings
    .replace(/\{[^}]*\}/g, "") // label matchers
    .replace(/\[[^\]]*\]/g, "") // ranges and subqueries
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ""); // label lists
  const names: string[] = [];
  for (const m of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*(?=\s*(\(?))/g)) {
    const word = m[0];
    const callsFunction = m[1] === "(";
    if (callsFunction || KEYWORDS.has(word.toLowerCase())) continue;
    // Durations like 5m never get here (they sit in brackets); numbers start with a digit.
    names.push(word);
  }
  return names;
}

function exported(): Map<string, string> {
  const none = () => [];
  const metrics = new Metrics({
    models: none,
    resources: () => undefined,
    guardLevel: () => 0,
    degradationSteps: none,
    alerts: none,
  });
  return new Map(metrics.registry.getMetricsAsArray().map((m) => [m.name, String(m.type)]));
}

const queries = [
  ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
  ...dashboard.templating.list.flatMap((v) => (v.definition ? [v.definition] : [])),
];

test("the PromQL name extraction finds metrics, not functions or labels", () => {
  assert.deepEqual(
    metricNames(
      'histogram_quantile(0.95, sum by (le) (rate(a_bucket{x="y"}[5m]))) / on(instance) b + up{job="j"}',
    ),
    ["a_bucket", "b", "up"],
  );
  assert.deepEqual(metricNames("label_values(bulwark_memory_usage_ratio, instance)"), [
    "bulwark_memory_usage_ratio",
    "instance",
  ]);
});

test("every metric the Grafana dashboard queries is exported by the server", () => {
  const registry = exported();
  const labels = new Set(["instance"]); // label_values(metric, label)
  const missing: string[] = [];
  let checked = 0;
  for (const expr of queries) {
    for (const name of metricNames(expr)) {
      if (labels.has(name) || name === "up") continue; // `up` is Prometheus's own
      checked++;
      const base = name.replace(/_(bucket|sum|count)$/, "");
      const ok = registry.has(name) || (base !== name && registry.get(base) === "histogram");
      if (!ok) missing.push(`${name} in ${expr}`);
    }
  }
  assert.deepEqual(missing, []);
  assert.ok(checked >= 40, `only ${checked} metric references found`);
});

test("the dashboard has a panel per seed KPI, with its threshold, and the other rows", () => {
  const titled = (re: RegExp) => dashboard.panels.filter((p) => re.test(p.title));
  const kpis: [RegExp, number | null][] = [
    [/^Memory use \(< 80%\)/, 0.8],
    [/^CPU.*\(< 70%\)/, 0.7],
    [/^P95 latency \(< 5 s\)/, 5],
    [/^Error rate \(< 1%\)/, 0.01],
    [/^Availability.*\(> 99\.9%\)/, 0.999],
    [/^Tokens generated per second/, null],
    [/^Prefix cache hit rate \(> 60%\)/, 0.6],
    [/^Model load.*\(< 30 s\)/, 30],
  ];
  for (const [title, threshold] of kpis) {
    const [panel] = titled(title);
    assert.ok(panel, `no KPI panel ${title}`);
    assert.ok(panel.targets?.length, `${panel.title} queries nothing`);
    if (threshold === null) continue;
    const steps = panel.fieldConfig?.defaults.thresholds?.steps.map((s) => s.value) ?? [];
    assert.ok(steps.includes(threshold), `${panel.title}: thresholds ${steps.join(",")}`);
  }
  const rows = dashboard.panels.filter((p) => p.type === "row").map((p) => p.title);
  for (const row of ["Engine", "Queue", "Caches", "Limits"]) assert.ok(rows.includes(row), row);
});
