import { test } from "node:test";
import assert from "node:assert/strict";
import { ResourceStack } from "../../../src/start/resources.js";
import { silentLogger } from "../../../src/observability/index.js";

test("resources close last opened first, once, and a failing close does not stop the rest", async () => {
  const closed: string[] = [];
  const stack = new ResourceStack(silentLogger());
  stack.push("store", () => void closed.push("store"));
  stack.push("broken", () => {
    closed.push("broken");
    throw new Error("boom");
  });
  stack.push("models", async () => {
    await new Promise((r) => setTimeout(r, 5));
    closed.push("models");
  });
  const first = stack.close();
  assert.equal(stack.close(), first, "a second close waits for the first");
  await first;
  assert.deepEqual(closed, ["models", "broken", "store"]);
  assert.throws(() => stack.push("late", () => undefined), /closing/);
});
