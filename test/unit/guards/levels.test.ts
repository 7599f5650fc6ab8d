import { test } from "node:test";
import assert from "node:assert/strict";
import {
  DegradationLadder,
  PressureLevels,
  checkLoad,
  LoadAdmission,
  kvCacheBytes,
} from "../../../src/guards/index.js";
import { testSpec } from "../../helpers/server.js";

const thresholds = { warnPercent: 80, shedPercent: 90, reclaimPercent: 95, hysteresisPercent: 5 };

test("levels rise at once to the highest threshold reached", () => {
  const l = new PressureLevels(thresholds);
  assert.equal(l.update(50), undefined);
  assert.deepEqual(l.update(80), { from: "ok", to: "warn", percent: 80 });
  assert.deepEqual(l.update(96), { from: "warn", to: "reclaim", percent: 96 });
  assert.equal(l.level, "reclaim");
});

test("levels fall only below their threshold less the hysteresis", () => {
  const l = new PressureLevels(thresholds);
  l.update(91);
  assert.equal(l.level, "shed");
  assert.equal(l.update(86), undefined, "86 is within the hysteresis of 90");
  assert.equal(l.resumePercent, 85);
  assert.deepEqual(l.update(84.9), { from: "shed", to: "warn", percent: 84.9 });
  assert.equal(l.update(76), undefined, "76 is within the hysteresis of 80");
  assert.equal(l.update(74)?.to, "ok");
  // A reading that hovers around a threshold does not flap.
  const h = new PressureLevels(thresholds);
  const changes = [89, 90, 89.5, 90.2, 88, 90.1].map((p) => h.update(p)).filter(Boolean);
  assert.equal(changes.length, 2); // ok→warn, warn→shed; never back
  assert.equal(h.level, "shed");
});

test("a fall from reclaim straight to low use lands on ok in one reading", () => {
  const l = new PressureLevels(thresholds);
  l.update(99);
  assert.deepEqual(l.update(10), { from: "reclaim", to: "ok", percent: 10 });
});

test("thresholds out of order are refused", () => {
  assert.throws(() => new PressureLevels({ ...thresholds, shedPercent: 70 }), RangeError);
});

test("the ladder steps down one configured rung per interval and climbs back", () => {
  const ladder = new DegradationLadder({ slots: 1, maxTokens: 64 }, 1000);
  assert.equal(ladder.current().step, 0);
  assert.equal(ladder.update(true, 0), true);
  assert.deepEqual(ladder.current(), {
    step: 1,
    name: "smaller_context",
    slots: 1,
    contextSize: undefined,
  });
  assert.equal(ladder.update(true, 500), false, "one rung per interval");
  assert.equal(ladder.update(true, 1000), true);
  // No variant configured: rung 2 is skipped, straight to the max_tokens cap.
  assert.equal(ladder.current().step, 3);
  assert.equal(ladder.current().maxTokens, 64);
  assert.equal(ladder.update(true, 5000), false, "already at the bottom");
  assert.equal(ladder.update(false, 6000), true);
  assert.equal(ladder.current().step, 1);
  assert.equal(ladder.current().maxTokens, undefined);
  assert.equal(ladder.update(false, 7000), true);
  assert.equal(ladder.current().step, 0);
  assert.equal(ladder.update(false, 9000), false);
});

test("a ladder with nothing configured never moves", () => {
  const ladder = new DegradationLadder({}, 0);
  assert.equal(ladder.update(true, 1), false);
  assert.equal(ladder.current().step, 0);
});

test("admission refuses a load that crosses the warn threshold and gives the numbers", () => {
  const MiB = 1024 * 1024;
  const estimate = {
    totalBytes: 300 * MiB,
    weightsBytes: 200 * MiB,
    kvCacheBytes: 4 * MiB,
    overheadBytes: 96 * MiB,
  };
  const memory = { usedBytes: 600 * MiB, limitBytes: 1000 * MiB, source: "test" };
  assert.equal(checkLoad("m", estimate, memory, 0, 95), undefined);
  const refusal = checkLoad("m", estimate, memory, 0, 80);
  assert.ok(refusal);
  assert.equal(refusal.code, "model_load_refused_memory");
  assert.match(refusal.message, /300\.0 MiB/);
  assert.match(refusal.message, /600\.0 MiB is in use/);
  assert.match(refusal.message, /900\.0 MiB of the 1000\.0 MiB limit \(90\.0%\)/);
  assert.match(refusal.message, /warn threshold of 80% \(800\.0 MiB\)/);
  // Loads still in progress count too.
  const reserved = checkLoad("m", estimate, memory, 150 * MiB, 95);
  assert.match(reserved?.message ?? "", /150\.0 MiB is reserved/);
});

test("the KV cache estimate follows the GGUF's attention shape", () => {
  // stories260K: 5 layers, 64 wide, 8 heads, 4 KV heads → head 8, K and V 32 each, f16.
  const arch = { blockCount: 5, embeddingLength: 64, headCount: 8, headCountKv: 4 };
  assert.equal(kvCacheBytes(arch, 512), 5 * 512 * 64 * 2);
});

test("a replacement worker fits once the worker it replaces has freed its memory", async () => {
  const MiB = 1024 * 1024;
  const admission = new LoadAdmission({
    // A worker costs 100 MiB per slot here, so the ladder's fewer slots shrink the estimate.
    estimator: {
      estimate: async (spec) => ({
        totalBytes: spec.slots * 100 * MiB,
        weightsBytes: 0,
        kvCacheBytes: spec.slots * 100 * MiB,
        overheadBytes: 0,
      }),
    },
    memory: async () => ({ usedBytes: 750 * MiB, limitBytes: 1000 * MiB, source: "test" }),
    warnPercent: 80,
    adjust: (spec) => ({ ...spec, slots: 1 }),
  });
  const spec = testSpec();
  // 750 − 0 + 100 (one slot after the ladder) > 800; 750 − 60 + 100 ≤ 800.
  assert.equal(await admission.fitsAfterFreeing(spec, 0), false);
  assert.equal(await admission.fitsAfterFreeing(spec, 60 * MiB), true);
  await assert.rejects(admission.admit(spec), { code: "model_load_refused_memory" });
});
