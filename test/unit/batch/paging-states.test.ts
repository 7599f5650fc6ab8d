import { test } from "node:test";
import assert from "node:assert/strict";
import { canMoveBatch, canMoveLine, pageQuery, toPage } from "../../../src/batch/index.js";

test("a page of limit + 1 fetched rows: has_more, first_id, last_id", () => {
  const rows = [{ id: "a" }, { id: "b" }, { id: "c" }];
  assert.deepEqual(toPage(rows, 2), {
    object: "list",
    data: [{ id: "a" }, { id: "b" }],
    first_id: "a",
    last_id: "b",
    has_more: true,
  });
  assert.deepEqual(toPage(rows.slice(0, 2), 2).has_more, false);
  assert.deepEqual(toPage([], 2), {
    object: "list",
    data: [],
    first_id: null,
    last_id: null,
    has_more: false,
  });
});

test("limit and after are read from the query and checked", () => {
  assert.deepEqual(pageQuery({}), { limit: 20 });
  assert.deepEqual(pageQuery({ limit: "5", after: "batch_x" }), { limit: 5, after: "batch_x" });
  for (const limit of ["0", "101", "2.5", "x"]) {
    assert.throws(() => pageQuery({ limit }), /limit must be/);
  }
  assert.throws(() => pageQuery({ after: "" }), /after/);
});

test("a batch's status moves only forward, as OpenAI's do", () => {
  assert.ok(canMoveBatch("validating", "in_progress"));
  assert.ok(canMoveBatch("in_progress", "finalizing"));
  assert.ok(canMoveBatch("in_progress", "cancelling"));
  assert.ok(canMoveBatch("cancelling", "finalizing"));
  assert.ok(canMoveBatch("finalizing", "completed"));
  assert.ok(canMoveBatch("finalizing", "expired"));
  assert.ok(canMoveBatch("finalizing", "cancelled"));
  assert.ok(!canMoveBatch("completed", "cancelling"));
  assert.ok(!canMoveBatch("cancelled", "in_progress"));
  assert.ok(!canMoveBatch("finalizing", "cancelling"));
  assert.ok(!canMoveBatch("in_progress", "completed"), "through finalizing");
});

test("a line runs, then ends once; a cut-short run goes back to pending", () => {
  assert.ok(canMoveLine("pending", "running"));
  assert.ok(canMoveLine("running", "completed"));
  assert.ok(canMoveLine("running", "pending"));
  assert.ok(!canMoveLine("completed", "running"), "a completed line never runs again");
  assert.ok(!canMoveLine("failed", "pending"));
  assert.ok(!canMoveLine("pending", "completed"));
});
