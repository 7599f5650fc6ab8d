import { test } from "node:test";
import assert from "node:assert/strict";
import { openDatabase } from "../../../src/store/index.js";
import { UsageStore } from "../../../src/audit/index.js";

const MINUTE = 60_000;

test("usage rolls up per minute and pages per key over a window, most tokens first", () => {
  const usage = new UsageStore(openDatabase(":memory:"));
  const now = 1_000_000 * MINUTE;
  const add = (keyId: string, at: number, tokens: number, error = false) =>
    usage.record({ keyId, model: "m", at, error, promptTokens: tokens, completionTokens: 1 });
  add("a", now - 90 * MINUTE, 1000); // outside the last hour
  add("a", now - 10 * MINUTE, 5);
  add("b", now - 5 * MINUTE, 50);
  add("b", now - 5 * MINUTE + 1000, 50, true); // same minute: one row
  add("c", now, 20);
  const since = now / MINUTE - 59;
  const all = usage.pageByKey({ sinceMinute: since, limit: 10, offset: 0 });
  assert.equal(all.total, 3);
  assert.deepEqual(all.data, [
    { keyId: "b", requests: 2, errors: 1, promptTokens: 100, completionTokens: 2 },
    { keyId: "c", requests: 1, errors: 0, promptTokens: 20, completionTokens: 1 },
    { keyId: "a", requests: 1, errors: 0, promptTokens: 5, completionTokens: 1 },
  ]);
  const second = usage.pageByKey({ sinceMinute: since, limit: 2, offset: 2 });
  assert.deepEqual(
    second.data.map((u) => u.keyId),
    ["a"],
  );
  const day = usage.pageByKey({ sinceMinute: now / MINUTE - 1439, limit: 10, offset: 0 });
  assert.equal(day.data.find((u) => u.keyId === "a")!.promptTokens, 1005);
  // The daily table still counts everything.
  assert.equal(usage.query({ keyId: "a" })[0]!.requests, 2);
});

test("minutes older than two days are pruned", () => {
  const usage = new UsageStore(openDatabase(":memory:"));
  const now = 2_000_000 * MINUTE;
  usage.record({
    keyId: "old",
    model: "m",
    at: now - 3 * 1440 * MINUTE,
    error: false,
    promptTokens: 1,
    completionTokens: 1,
  });
  usage.record({
    keyId: "new",
    model: "m",
    at: now,
    error: false,
    promptTokens: 1,
    completionTokens: 1,
  });
  const everything = usage.pageByKey({ sinceMinute: 0, limit: 10, offset: 0 });
  assert.deepEqual(
    everything.data.map((u) => u.keyId),
    ["new"],
  );
});

test("a home has one id for good, tells each recorded change, and pages its rows in a stable order", () => {
  const db = openDatabase(":memory:");
  const usage = new UsageStore(db);
  const id = usage.homeId();
  assert.match(id, /^[0-9a-f-]{36}$/);
  assert.equal(new UsageStore(db).homeId(), id, "the same home keeps its id");
  const changed: string[] = [];
  usage.onRecord = (c) => changed.push(`${c.keyId}/${c.model}/${c.day}/${c.minute}`);
  const at = Date.UTC(2026, 0, 2, 3, 4, 5);
  for (const keyId of ["b", "a", "a"]) {
    usage.record({ keyId, model: "m", at, error: false, promptTokens: 2, completionTokens: 3 });
  }
  const minute = Math.floor(at / MINUTE);
  assert.deepEqual(changed, [
    `b/m/2026-01-02/${minute}`,
    `a/m/2026-01-02/${minute}`,
    `a/m/2026-01-02/${minute}`,
  ]);
  assert.equal(usage.dayRow("a", "m", "2026-01-02")?.requests, 2);
  assert.equal(usage.dayRow("a", "m", "2026-01-03"), undefined);
  assert.equal(usage.minuteRow("a", "m", minute)?.promptTokens, 4);
  assert.deepEqual(
    usage.dayRows(0, 10).map((r) => r.keyId),
    ["a", "b"],
  );
  assert.deepEqual(
    usage.dayRows(1, 10).map((r) => r.keyId),
    ["b"],
  );
  assert.deepEqual(
    usage.minuteRows(minute, 0, 1).map((r) => r.keyId),
    ["a"],
  );
  assert.deepEqual(usage.minuteRows(minute + 1, 0, 10), []);
});
