import { test } from "node:test";
import assert from "node:assert/strict";
import { arrivalOffsets, gammaSample, seededRandom } from "../../../src/bench/index.js";

function gapStats(offsets: number[]) {
  const gaps = offsets.slice(1).map((t, i) => t - offsets[i]!);
  const mean = gaps.reduce((s, g) => s + g, 0) / gaps.length;
  const sd = Math.sqrt(gaps.reduce((s, g) => s + (g - mean) ** 2, 0) / gaps.length);
  return { mean, cv: sd / mean };
}

test("the schedule is fixed by the seed and starts at 0", () => {
  const a = arrivalOffsets(50, 10, 1, 42);
  assert.deepEqual(arrivalOffsets(50, 10, 1, 42), a);
  assert.notDeepEqual(arrivalOffsets(50, 10, 1, 43), a);
  assert.equal(a[0], 0);
  assert.ok(
    a.every((t, i) => i === 0 || t >= a[i - 1]!),
    "non-decreasing",
  );
});

test("gaps have mean 1/rate; burstiness sets their spread (CV = 1/sqrt(shape))", () => {
  for (const [shape, cv] of [
    [1, 1],
    [4, 0.5],
    [0.25, 2],
  ] as const) {
    const s = gapStats(arrivalOffsets(40_000, 50, shape, 1));
    assert.ok(Math.abs(s.mean - 20) / 20 < 0.03, `shape ${shape}: mean gap ${s.mean} ms`);
    assert.ok(Math.abs(s.cv - cv) / cv < 0.06, `shape ${shape}: CV ${s.cv}, want ${cv}`);
  }
});

test("an infinite rate sends everything at once; bad rates are refused", () => {
  assert.deepEqual(arrivalOffsets(3, Infinity, 1, 0), [0, 0, 0]);
  assert.throws(() => arrivalOffsets(3, 0, 1, 0), RangeError);
  assert.throws(() => arrivalOffsets(3, 1, 0, 0), RangeError);
  assert.throws(() => gammaSample(seededRandom(1), -1, 1), RangeError);
});

test("the seeded source is uniform in [0, 1)", () => {
  const r = seededRandom(9);
  const xs = Array.from({ length: 20_000 }, r);
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.01, `mean ${mean}`);
});
