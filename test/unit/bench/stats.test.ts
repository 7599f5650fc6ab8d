import { test } from "node:test";
import assert from "node:assert/strict";
import { percentile, summarize } from "../../../src/bench/index.js";

const close = (a: number, b: number, msg?: string) =>
  assert.ok(Math.abs(a - b) < 1e-9, `${msg ?? ""} ${a} != ${b}`);

test("percentiles interpolate linearly between the nearest ranks (numpy's default)", () => {
  const v = [5, 1, 4, 2, 3];
  close(percentile(v, 0), 1);
  close(percentile(v, 50), 3);
  close(percentile(v, 90), 4.6); // rank 3.6: 4 + 0.6 × (5 − 4)
  close(percentile(v, 95), 4.8);
  close(percentile(v, 99), 4.96);
  close(percentile(v, 100), 5);
  close(percentile([10, 20, 40, 80], 50), 30); // rank 1.5
  close(percentile([10, 20, 40, 80], 90), 68); // rank 2.7: 40 + 0.7 × 40
  assert.throws(() => percentile(v, 101), RangeError);
});

test("summary: mean, median, population std and p50/p90/p95/p99", () => {
  const s = summarize([1, 2, 3, 4, 5]);
  assert.equal(s.count, 5);
  close(s.mean, 3);
  close(s.median, 3);
  close(s.std, Math.SQRT2, "population std, not the sample std (1.58)");
  assert.deepEqual(Object.keys(s.percentiles), ["p50", "p90", "p95", "p99"]);
  close(s.percentiles.p99!, 4.96);
  assert.equal(s.min, 1);
  assert.equal(s.max, 5);
  const one = summarize([7]);
  assert.equal(one.std, 0);
  assert.equal(one.percentiles.p99, 7);
  const none = summarize([]);
  assert.deepEqual(
    [none.count, none.mean, none.median, none.std, none.percentiles.p95],
    [0, 0, 0, 0, 0],
  );
});
