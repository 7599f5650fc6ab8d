import { test } from "node:test";
import assert from "node:assert/strict";
import { BulwarkError } from "../../../src/errors/index.js";
import { Autoscaler, type ScalableSet } from "../../../src/supervisor/autoscaler.js";
import { capturedLogger } from "../../helpers/server.js";

const settings = {
  intervalMs: 1000,
  upQueueDepth: 2,
  upQueueWaitMs: 1000,
  upWindowMs: 2000,
  downIdleMs: 3000,
  downUtilizationPercent: 50,
  cooldownMs: 1000,
};

/** An autoscaler over a replica set the test holds, on a clock it moves a second per look. */
function setup(range = { min: 1, max: 3 }) {
  let now = 1_000_000;
  let next = 0;
  const set = { replicas: range.min, starting: 0, parked: 0 };
  const calls: string[] = [];
  const replicas: ScalableSet = {
    counts: () => ({ ...set }),
    grow: () => {
      calls.push("grow");
      set.replicas++;
      set.starting++;
      return `m#${++next}.1`;
    },
    shrink: () => {
      calls.push("shrink");
      set.replicas--;
      return `m#${next--}.1`;
    },
  };
  const load = { waiting: 0, busySlots: 0 };
  let active = true;
  const counted: string[] = [];
  const { logger, logs } = capturedLogger("info");
  const scaler = new Autoscaler(
    {
      model: "m",
      range,
      settings,
      replicas,
      load: () => load,
      slotsPerReplica: 4,
      active: () => active,
      logger,
      decided: (model, action) => counted.push(`${model}:${action}`),
    },
    () => now,
  );
  return {
    scaler,
    set,
    load,
    calls,
    counted,
    logs,
    deactivate: () => (active = false),
    looks(n: number) {
      for (let i = 0; i < n; i++) {
        now += 1000;
        scaler.tick();
      }
    },
  };
}

test("pressure for the window grows the set once; the decision is logged, counted and listed", () => {
  const s = setup();
  s.load.waiting = 3;
  s.looks(3);
  assert.deepEqual(s.calls, ["grow"]);
  assert.deepEqual(s.counted, ["m:up"]);
  const line = s.logs.find((l) => l.msg === "autoscale: adding a replica");
  assert.ok(line);
  assert.deepEqual([line.from, line.to, line.replica], [1, 2, "m#1.1"]);
  assert.match(String(line.reason), /queue depth 3 ≥ 2/);
  const status = s.scaler.status();
  assert.equal(status.recent[0]!.action, "up");
  assert.deepEqual(status.decisions, { up: 1, down: 0, up_refused: 0 });
  assert.deepEqual([status.min, status.max, status.replicas], [1, 3, 2]);
});

test("nothing more while the added replica loads; it grows again once loaded", () => {
  const s = setup();
  s.load.waiting = 5;
  s.looks(3);
  s.looks(10);
  assert.deepEqual(s.calls, ["grow"], "starting: hold");
  s.set.starting = 0;
  s.looks(3);
  assert.deepEqual(s.calls, ["grow", "grow"]);
});

test("queue waits reported between looks count as pressure; they are used once", () => {
  const s = setup();
  const slowLook = () => {
    for (let i = 0; i < 20; i++) s.scaler.queueWait(1500);
    s.looks(1);
  };
  slowLook();
  slowLook();
  s.looks(1);
  assert.deepEqual(s.calls, [], "a look without slow waits ends the window");
  slowLook();
  slowLook();
  slowLook();
  assert.deepEqual(s.calls, ["grow"]);
  assert.match(s.scaler.status().recent[0]!.reason, /queue wait p95 1500 ms ≥ 1000 ms/);
});

test("a refusal by memory admission is logged with its reason, counted, and waits a cooldown", () => {
  const s = setup();
  s.load.waiting = 5;
  s.looks(3);
  assert.deepEqual(s.calls, ["grow"]);
  // Admission refused the added replica: the manager removed it.
  s.set.replicas = 1;
  s.set.starting = 0;
  const refusal = new BulwarkError("model_load_refused_memory", "Loading a replica needs 1 GiB");
  s.scaler.refused(refusal);
  const line = s.logs.find(
    (l) => l.msg === "autoscale: replica refused by memory admission; staying at 1",
  );
  assert.ok(line);
  assert.equal(line.reason, "Loading a replica needs 1 GiB");
  assert.deepEqual([line.from, line.to, line.replica], [2, 1, null]);
  assert.deepEqual(s.counted, ["m:up", "m:up_refused"]);
  assert.equal(s.scaler.status().decisions.up_refused, 1);
  s.looks(1);
  assert.deepEqual(s.calls, ["grow"], "within the cooldown");
  s.looks(3);
  assert.deepEqual(s.calls, ["grow", "grow"], "after the cooldown and a new window");
});

test("idleness shrinks the set to min and no further", () => {
  const s = setup({ min: 1, max: 3 });
  s.set.replicas = 3;
  s.looks(30);
  assert.deepEqual(s.calls, ["shrink", "shrink"]);
  assert.equal(s.set.replicas, 1);
  assert.deepEqual(s.scaler.status().decisions, { up: 0, down: 2, up_refused: 0 });
  assert.equal(s.logs.filter((l) => l.msg === "autoscale: stopping a replica").length, 2);
});

test("hands off while the guard has unloaded replicas, and while the model is closing", () => {
  const s = setup();
  s.load.waiting = 9;
  s.set.parked = 1;
  s.looks(10);
  assert.deepEqual(s.calls, [], "the memory guard is in charge");
  s.set.parked = 0;
  s.deactivate();
  s.looks(10);
  assert.deepEqual(s.calls, []);
});

test("status lists the last ten decisions, newest first", () => {
  const s = setup({ min: 1, max: 30 });
  s.load.waiting = 9;
  for (let i = 0; i < 12; i++) {
    s.looks(3);
    s.set.starting = 0;
  }
  const status = s.scaler.status();
  assert.equal(status.decisions.up, 12);
  assert.equal(status.recent.length, 10);
  assert.equal(status.recent[0]!.to, 13);
  assert.ok(status.recent.every((e, i, all) => i === 0 || all[i - 1]!.at >= e.at));
});
