import { test } from "node:test";
import assert from "node:assert/strict";
import { summarize } from "../../../src/audit/usage-report.js";

test("usage of a model named __proto__ stays in its own entry and pollutes no prototype", () => {
  const row = {
    keyId: "k",
    day: "2026-01-01",
    requests: 2,
    errors: 1,
    promptTokens: 3,
    completionTokens: 4,
    cachedRequests: 0,
  };
  const report = summarize([
    { ...row, model: "__proto__" },
    { ...row, model: "constructor", day: "__proto__" },
  ]);
  assert.equal(({} as Record<string, unknown>).requests, undefined);
  const k = report.data[0]!;
  assert.equal(k.requests, 4);
  assert.equal(k.by_model["__proto__"]!.requests, 2);
  assert.equal(k.by_model["constructor"]!.requests, 2);
  assert.deepEqual(Object.keys(JSON.parse(JSON.stringify(k.by_model))).sort(), [
    "__proto__",
    "constructor",
  ]);
});
