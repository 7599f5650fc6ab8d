import { test } from "node:test";
import assert from "node:assert/strict";
import {
  AutoscalePolicy,
  percentile,
  type AutoscaleThresholds,
  type ScaleSnapshot,
} from "../../../src/supervisor/autoscale-policy.js";

const thresholds: AutoscaleThresholds = {
  upQueueDepth: 2,
  upQueueWaitMs: 1000,
  upWindowMs: 3000,
  downIdleMs: 10_000,
  downUtilizationPercent: 50,
  cooldownMs: 5000,
};

/** A policy on a clock the test moves, looking once a second. */
function setup(range = { min: 1, max: 3 }, t: Partial<AutoscaleThresholds> = {}) {
  let now = 1_000_000;
  const policy = new AutoscalePolicy(range, { ...thresholds, ...t }, () => now);
  const base: ScaleSnapshot = {
    replicas: range.min,
    starting: 0,
    waiting: 0,
    busySlots: 0,
    slotsPerReplica: 4,
    waitsMs: [],
  };
  return {
    policy,
    at: () => now,
    /** Looks at `s` once a second for `seconds` seconds; returns the decisions that changed. */
    run(seconds: number, s: Partial<ScaleSnapshot>) {
      const out = [];
      for (let i = 0; i < seconds; i++) {
        now += 1000;
        const d = policy.decide({ ...base, ...s });
        if (d.action !== "hold") out.push({ ...d, at: now });
      }
      return out;
    },
    look(s: Partial<ScaleSnapshot>) {
      now += 1000;
      return policy.decide({ ...base, ...s });
    },
  };
}

test("percentile: nearest rank, undefined for no values", () => {
  assert.equal(percentile([], 95), undefined);
  assert.equal(percentile([7], 95), 7);
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(hundred, 95), 95);
  assert.equal(percentile(hundred, 50), 50);
  assert.equal(percentile([5, 1, 3], 100), 5);
  assert.equal(percentile([5, 1, 3], 0), 1);
});

test("a queue that stays at the depth threshold for the window adds one replica", () => {
  const s = setup();
  // Pressure starts at the first look; the window is 3 s: the fourth look decides.
  assert.deepEqual(s.run(3, { waiting: 2 }), []);
  const d = s.look({ waiting: 2 });
  assert.equal(d.action, "up");
  if (d.action === "up") {
    assert.equal(d.from, 1);
    assert.equal(d.to, 2);
    assert.match(d.reason, /queue depth 2 ≥ 2 for 3\.0 s/);
  }
});

test("a queue wait p95 at the threshold is pressure even with a short queue", () => {
  const s = setup();
  const slow = [100, 200, 1500, 1200, 900, 1100, 1300, 1400, 1000, 1600];
  assert.deepEqual(s.run(3, { waiting: 0, waitsMs: slow }), []);
  const d = s.look({ waiting: 0, waitsMs: slow });
  assert.equal(d.action, "up");
  if (d.action === "up") assert.match(d.reason, /queue wait p95 1600 ms ≥ 1000 ms/);
});

test("pressure must hold at every look: one calm look restarts the window", () => {
  const s = setup();
  assert.deepEqual(s.run(2, { waiting: 5 }), []);
  assert.equal(s.look({ waiting: 1 }).action, "hold", "below the depth, no slow waits");
  assert.deepEqual(s.run(3, { waiting: 5 }), [], "a new window of 3 s begins");
  assert.equal(s.look({ waiting: 5 }).action, "up");
});

test("fast waits below the threshold and a short queue are no pressure", () => {
  const s = setup();
  assert.deepEqual(s.run(30, { waiting: 1, busySlots: 4, waitsMs: [10, 20, 999] }), []);
});

test("an upWindowMs of 0 adds a replica at the first look under pressure", () => {
  const s = setup({ min: 1, max: 2 }, { upWindowMs: 0 });
  assert.equal(s.look({ waiting: 3 }).action, "up");
});

test("never beyond max, and never a second replica while one is still loading", () => {
  const s = setup({ min: 1, max: 2 }, { cooldownMs: 0 });
  assert.equal(s.run(4, { waiting: 9 }).length, 1);
  // The new replica loads: nothing more, however long the queue stays.
  assert.deepEqual(s.run(10, { waiting: 9, replicas: 2, starting: 1 }), []);
  // Loaded, at max: still nothing.
  assert.deepEqual(s.run(10, { waiting: 9, replicas: 2 }), []);
});

test("after an up, the cooldown and a new window pass before the next one", () => {
  const s = setup({ min: 1, max: 4 });
  const first = s.run(4, { waiting: 9 });
  assert.equal(first.length, 1);
  // Cooldown 5 s after the change; a new window of 3 s also starts at the change.
  const next = s.run(20, { waiting: 9, replicas: 2 });
  assert.ok(next.length >= 1);
  assert.equal(next[0]!.at - first[0]!.at, 5000, "the cooldown is the longer wait here");
  assert.equal(next[0]!.action, "up");
});

test("a burst grows the model up to max, one replica at a time", () => {
  const s = setup({ min: 1, max: 3 }, { cooldownMs: 0 });
  let replicas = 1;
  const ups = [];
  for (let i = 0; i < 60; i++) {
    const d = s.look({ waiting: 10, replicas });
    if (d.action === "up") {
      assert.equal(d.from, replicas);
      assert.equal(d.to, replicas + 1);
      replicas = d.to;
      ups.push(d);
    }
  }
  assert.equal(replicas, 3);
  assert.equal(ups.length, 2);
});

test("idle for downIdleMs stops one replica; then the next after another idle period", () => {
  const s = setup({ min: 1, max: 3 });
  // Idle from the first look on; the window is 10 s: the eleventh look decides.
  assert.deepEqual(s.run(10, { replicas: 3 }), []);
  const d = s.look({ replicas: 3 });
  assert.equal(d.action, "down");
  if (d.action === "down") {
    assert.equal(d.from, 3);
    assert.equal(d.to, 2);
    assert.match(d.reason, /idle for 10 s/);
  }
  // The idle window restarts at the change.
  assert.deepEqual(s.run(9, { replicas: 2 }), []);
  assert.equal(s.look({ replicas: 2 }).action, "down");
  // At min: never below.
  assert.deepEqual(s.run(60, { replicas: 1 }), []);
});

test("hysteresis: a load that fills the replicas without a queue neither grows nor shrinks", () => {
  const s = setup({ min: 1, max: 3 });
  // 2 replicas × 4 slots; 3 busy: more than 50% of one replica's slots (2), no queue.
  assert.deepEqual(s.run(120, { replicas: 2, busySlots: 3, waiting: 1 }), []);
  // At 2 busy slots, one replica fewer at 50% holds them: idle.
  const down = s.run(15, { replicas: 2, busySlots: 2 });
  assert.equal(down.length, 1);
  assert.equal(down[0]!.action, "down");
});

test("anyone waiting, or busy slots above the idle room, restarts the idle period", () => {
  const s = setup({ min: 1, max: 3 }, { cooldownMs: 0 });
  assert.deepEqual(s.run(8, { replicas: 3 }), []);
  assert.equal(s.look({ replicas: 3, waiting: 1 }).action, "hold");
  assert.deepEqual(s.run(9, { replicas: 3 }), []);
  assert.equal(s.look({ replicas: 3, busySlots: 5 }).action, "hold", "5 > 50% of 8");
  assert.deepEqual(s.run(10, { replicas: 3 }), []);
  assert.equal(s.look({ replicas: 3 }).action, "down");
});

test("nothing shrinks while a replica loads, nor within the cooldown of an up", () => {
  const s = setup({ min: 1, max: 3 }, { downIdleMs: 0 });
  const up = s.run(4, { waiting: 5, replicas: 2 });
  assert.equal(up.length, 1);
  assert.deepEqual(s.run(30, { replicas: 3, starting: 1 }), [], "still loading");
  const later = s.look({ replicas: 3 });
  assert.equal(later.action, "down", "loaded, idle, cooldown over");
});

test("a refusal by memory admission waits out the cooldown and a new window", () => {
  const s = setup({ min: 1, max: 3 }, { cooldownMs: 5000 });
  assert.equal(s.run(4, { waiting: 5 }).length, 1);
  // The manager added a replica; admission refused it: still one.
  s.policy.refused();
  const refusedAt = s.at();
  const next = s.run(20, { waiting: 5 });
  assert.ok(next.length >= 1);
  assert.equal(next[0]!.at - refusedAt, 5000);
  assert.equal(next[0]!.action, "up");
});

test("below min (a replica stopped from outside) comes back up without pressure", () => {
  const s = setup({ min: 2, max: 3 });
  const d = s.look({ replicas: 1 });
  assert.equal(d.action, "up");
  if (d.action === "up") assert.match(d.reason, /below the minimum of 2/);
});

test("state() shows pressure, idleness and the cooldown for /health", () => {
  const s = setup({ min: 1, max: 3 }, { cooldownMs: 5000 });
  assert.deepEqual(s.policy.state(), { pressureSince: null, idleSince: null, cooldownUntil: null });
  s.look({ waiting: 5 });
  const since = s.at();
  assert.equal(s.policy.state().pressureSince, since);
  s.run(3, { waiting: 5 });
  const changed = s.at();
  assert.equal(s.policy.state().cooldownUntil, changed + 5000);
  s.look({ replicas: 2 });
  assert.equal(s.policy.state().pressureSince, null);
  assert.equal(s.policy.state().idleSince, s.at());
});
