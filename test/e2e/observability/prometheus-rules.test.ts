/**
 * The shipped Prometheus rules, checked by Prometheus's own promtool: the file is valid, each
 * alert fires and resolves on the synthetic series of bulwark-alerts.test.yml, every alert
 * Bulwark evaluates itself has a rule, the rules' thresholds are the KPI defaults, and the
 * Grafana dashboard's queries parse.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parse, stringify } from "yaml";
import { configSchema } from "../../../src/config/index.js";
import { repoRoot } from "../../helpers/paths.js";

const dir = join(repoRoot(), "deploy", "prometheus");
const rulesFile = join(dir, "bulwark-alerts.yml");
const testFile = join(dir, "bulwark-alerts.test.yml");
const promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].find((p) => existsSync(p));
const skip = promtool ? false : "promtool not found (Debian package prometheus); not checked";

interface Rule {
  alert: string;
  expr: string;
  labels?: Record<string, string>;
}
interface AlertTest {
  eval_time: string;
  alertname: string;
  exp_alerts: unknown[];
}

const rules: Rule[] = (
  parse(readFileSync(rulesFile, "utf8")) as { groups: { rules: Rule[] }[] }
).groups.flatMap((g) => g.rules);
const byName = new Map(rules.map((r) => [r.alert, r]));

function promtoolRun(...args: string[]): { status: number | null; output: string } {
  const r = spawnSync(promtool!, args, { cwd: repoRoot(), encoding: "utf8", timeout: 60_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

test("promtool check rules accepts the shipped rules", { skip }, () => {
  const r = promtoolRun("check", "rules", rulesFile);
  assert.equal(r.status, 0, r.output);
  assert.match(r.output, new RegExp(`SUCCESS: ${rules.length} rules found`));
});

test("promtool test rules: each alert fires and resolves on synthetic series", { skip }, () => {
  const r = promtoolRun("test", "rules", testFile);
  assert.equal(r.status, 0, r.output);
  assert.match(r.output, /SUCCESS/);
});

test("the unit tests fire and resolve every rule of the file", () => {
  const tests = (
    parse(readFileSync(testFile, "utf8")) as { tests: { alert_rule_test: AlertTest[] }[] }
  ).tests.flatMap((t) => t.alert_rule_test);
  for (const rule of rules) {
    const mine = tests.filter((t) => t.alertname === rule.alert);
    assert.ok(
      mine.some((t) => t.exp_alerts.length > 0),
      `${rule.alert}: no test in which it fires`,
    );
    assert.ok(
      mine.some((t) => t.exp_alerts.length === 0),
      `${rule.alert}: no test in which it is resolved`,
    );
  }
});

test("every alert Bulwark evaluates itself has a rule, at the default KPI threshold", () => {
  const a = configSchema.parse({}).alerts;
  const ratio = (percent: number) => String(Number((percent / 100).toFixed(4)));
  // Bulwark's alert → the rule and the threshold its expression must compare with.
  const expected: Record<string, [string, string]> = {
    memory_high: ["BulwarkMemoryHigh", `> ${(a.memoryPercent / 100).toFixed(2)}`],
    memory_pressure: ["BulwarkMemoryShedding", ">= 2"],
    cpu_high: ["BulwarkCpuHigh", `> ${(a.cpuPercent / 100).toFixed(2)}`],
    latency_p95_high: ["BulwarkLatencyP95High", `> ${a.latencyP95Ms / 1000}`],
    error_rate_high: ["BulwarkErrorRateHigh", `> ${ratio(a.errorRatePercent)}`],
    availability_low: ["BulwarkAvailabilityLow", `< ${ratio(a.availabilityPercent)}`],
    cache_hit_rate_low: ["BulwarkCacheHitRateLow", `< ${(a.cacheHitPercent / 100).toFixed(2)}`],
    model_load_slow: ["BulwarkModelLoadSlow", `le="${a.modelLoadMs / 1000}"`],
    model_integrity: ["BulwarkModelIntegrity", `alert="model_integrity"`],
    backup_stale: ["BulwarkBackupStale", `alert="backup_stale"`],
  };
  for (const [alert, [name, threshold]] of Object.entries(expected)) {
    const rule = byName.get(name);
    assert.ok(rule, `no rule ${name} for Bulwark's ${alert}`);
    assert.ok(
      rule.expr.includes(threshold),
      `${name} should compare with ${threshold}: ${rule.expr}`,
    );
    assert.ok(rule.labels?.severity, `${name} has no severity`);
  }
});

test("the example Alertmanager route sends every severity to a receiver it defines", () => {
  const am = parse(readFileSync(join(dir, "alertmanager.yml"), "utf8")) as {
    route: { receiver: string; routes: { matchers: string[]; receiver: string }[] };
    receivers: { name: string }[];
  };
  const receivers = new Set(am.receivers.map((r) => r.name));
  assert.ok(receivers.has(am.route.receiver));
  const severities = new Set(rules.map((r) => r.labels!.severity!));
  for (const severity of severities) {
    const route = am.route.routes.find((r) =>
      r.matchers.some((m) => {
        const [, op, value] = /^severity(=~|=)"(.*)"$/.exec(m) ?? [];
        if (op === "=") return value === severity;
        return op === "=~" && new RegExp(`^(?:${value})$`).test(severity);
      }),
    );
    assert.ok(route, `no route for severity ${severity}`);
    assert.ok(receivers.has(route.receiver), `${route.receiver} is not defined`);
  }
});

test("promtool parses every query of the Grafana dashboard", { skip }, () => {
  const dashboard = JSON.parse(
    readFileSync(join(repoRoot(), "deploy", "grafana", "bulwark.json"), "utf8"),
  ) as { panels: { targets?: { expr: string }[] }[] };
  const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
  assert.ok(exprs.length >= 30);
  // Each query as a recording rule: promtool check rules parses its PromQL.
  const file = join(mkdtempSync(join(tmpdir(), "bulwark-grafana-")), "queries.yml");
  const rules = exprs.map((expr, i) => ({
    record: `grafana:query_${i}`,
    expr: expr.replaceAll("$instance", ".*"),
  }));
  writeFileSync(file, stringify({ groups: [{ name: "grafana", rules }] }));
  const r = promtoolRun("check", "rules", file);
  rmSync(dirname(file), { recursive: true, force: true });
  assert.equal(r.status, 0, r.output);
});
