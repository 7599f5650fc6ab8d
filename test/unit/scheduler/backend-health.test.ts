import { test } from "node:test";
import assert from "node:assert/strict";
import { BackendHealth } from "../../../src/scheduler/index.js";

function clock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

test("a backend serves after its first passing check, and is ejected after N failures in a row", () => {
  const c = clock();
  const h = new BackendHealth({ failures: 3, cooldownMs: 1000 }, c.now);
  assert.equal(h.state, "starting");
  assert.equal(h.probeDue(), true);
  assert.equal(h.probeResult(false), false);
  assert.equal(h.state, "starting");
  assert.equal(h.probeResult(true), true);
  assert.equal(h.serving, true);
  h.failure();
  h.failure();
  h.success(); // the count is of failures in a row
  assert.equal(h.failure(), false);
  assert.equal(h.failure(), false);
  assert.equal(h.failure(), true);
  assert.equal(h.state, "ejected");
  assert.equal(h.ejections, 1);
  assert.equal(h.failure(), false, "an ejected backend is not ejected again");
});

test("half-open: one probe after the cooldown; a failed one doubles the rest up to 12×", () => {
  const c = clock();
  const h = new BackendHealth({ failures: 1, cooldownMs: 1000 }, c.now);
  h.probeResult(true);
  h.failure();
  assert.equal(h.probeDue(), false);
  assert.equal(h.retryInMs(), 1000);
  c.advance(1000);
  assert.equal(h.probeDue(), true);
  assert.equal(h.state, "half-open");
  h.probeResult(false);
  assert.equal(h.state, "ejected");
  assert.equal(h.retryInMs(), 2000);
  for (let i = 0; i < 6; i++) {
    c.advance(h.retryInMs());
    assert.equal(h.probeDue(), true);
    h.probeResult(false);
  }
  assert.equal(h.retryInMs(), 12_000);
  c.advance(12_000);
  assert.equal(h.probeDue(), true);
  assert.equal(h.probeResult(true), true);
  assert.equal(h.serving, true);
  // Back in service, the rest starts from the base again.
  h.failure();
  assert.equal(h.retryInMs(), 1000);
});
