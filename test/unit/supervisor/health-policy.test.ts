import { test } from "node:test";
import assert from "node:assert/strict";
import { backoffDelayMs, watchdogVerdict } from "../../../src/supervisor/index.js";

test("restart backoff doubles from the initial delay up to the cap", () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelayMs(n, 500, 10_000)),
    [500, 1000, 2000, 4000, 8000, 10_000, 10_000],
  );
  assert.equal(backoffDelayMs(0, 500, 10_000), 0);
  assert.equal(backoffDelayMs(200, 500, 10_000), 10_000);
});

test("watchdog: silent without heartbeats, hung when busy without tokens", () => {
  const limits = { heartbeatTimeoutMs: 1000, progressTimeoutMs: 5000 };
  assert.equal(
    watchdogVerdict({ lastHeartbeatAt: 0, lastProgressAt: 0, activeJobs: 0 }, 1000, limits),
    "ok",
  );
  assert.equal(
    watchdogVerdict({ lastHeartbeatAt: 0, lastProgressAt: 0, activeJobs: 0 }, 1001, limits),
    "silent",
  );
  assert.equal(
    watchdogVerdict({ lastHeartbeatAt: 9000, lastProgressAt: 0, activeJobs: 0 }, 9500, limits),
    "ok",
    "idle is not hung",
  );
  assert.equal(
    watchdogVerdict({ lastHeartbeatAt: 9000, lastProgressAt: 4000, activeJobs: 1 }, 9500, limits),
    "hung",
  );
  assert.equal(
    watchdogVerdict({ lastHeartbeatAt: 9000, lastProgressAt: 5000, activeJobs: 1 }, 9500, limits),
    "ok",
  );
});
