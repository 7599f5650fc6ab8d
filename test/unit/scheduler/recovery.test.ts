import { test } from "node:test";
import assert from "node:assert/strict";
import { lossVerdict } from "../../../src/scheduler/index.js";

const lost = (over: Partial<Parameters<typeof lossVerdict>[0]> = {}) => ({
  cancelled: false,
  committed: false,
  losses: 1,
  ...over,
});

test("a request lost before its first byte is re-queued once", () => {
  assert.equal(lossVerdict(lost(), false), "requeue");
});

test("the second worker death refuses the request as a possible query of death", () => {
  assert.equal(lossVerdict(lost({ losses: 2 }), false), "refuse");
});

test("a stream that already began ends with engine_failure", () => {
  assert.equal(lossVerdict(lost({ committed: true }), false), "fail_stream");
});

test("a cancelled request is dropped; a stopping server does not re-queue", () => {
  assert.equal(lossVerdict(lost({ cancelled: true }), false), "drop");
  assert.equal(lossVerdict(lost(), true), "shutting_down");
});
