import { test } from "node:test";
import assert from "node:assert/strict";
import {
  BudgetMemorySource,
  ResourceMonitor,
  type ProcessProbe,
} from "../../../src/guards/index.js";
import { loadConfig } from "../../../src/config/index.js";

test("the monitor computes CPU shares from cumulative times and a budget from the RSS sum", async () => {
  let now = 0;
  const cpu = new Map<number, number>([
    [1, 0],
    [2, 0],
  ]);
  let machine = { busySeconds: 0, totalSeconds: 0 };
  const probe: ProcessProbe = {
    sample: async (pid) =>
      cpu.has(pid) ? { rssBytes: pid * 100, cpuSeconds: cpu.get(pid)! } : undefined,
    machineCpu: async () => machine,
  };
  let monitor: ResourceMonitor | undefined = undefined;
  const memory = new BudgetMemorySource(1000, () => monitor!.ownRssBytes());
  monitor = new ResourceMonitor({
    memory,
    probe,
    intervalMs: 1000,
    now: () => now,
    processes: () => [
      { role: "gateway", pid: 1 },
      { role: "worker", pid: 2, model: "m", replica: "m#0.1" },
      { role: "worker", pid: null, model: "fake", replica: "f#0.1", reportedRssBytes: 50 },
    ],
  });
  await monitor.sample();
  now = 2000;
  cpu.set(1, 1); // one CPU second in two seconds: half a core
  cpu.set(2, 4); // two cores busy
  machine = { busySeconds: 3, totalSeconds: 4 };
  const s = await monitor.sample();
  const byRole = (pid: number | null) => s.processes.find((p) => p.pid === pid)!;
  assert.equal(byRole(1).cpuRatio, 0.5);
  assert.equal(byRole(2).cpuRatio, 2);
  assert.equal(byRole(null).rssBytes, 50, "a worker without a pid reports its own RSS");
  assert.equal(s.cpuRatio, 0.75);
  assert.deepEqual(s.memory, { usedBytes: 350, limitBytes: 1000, source: "budget" });
  assert.equal(s.memoryPercent, 35);
});

test("thresholds out of order stop the start with a message naming the field", () => {
  assert.throws(
    () => loadConfig({ env: {}, overrides: { guards: { warnPercent: 95, shedPercent: 90 } } }),
    /guards\.shedPercent: must satisfy warnPercent <= shedPercent <= reclaimPercent/,
  );
});
