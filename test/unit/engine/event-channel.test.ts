import { test } from "node:test";
import assert from "node:assert/strict";
import { EventChannel } from "../../../src/engine/event-channel.js";

async function drain<T>(channel: EventChannel<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const v of channel) out.push(v);
  return out;
}

test("delivers pushed values in order, before and after the reader waits", async () => {
  const c = new EventChannel<number>();
  c.push(1);
  const reading = drain(c);
  c.push(2);
  await new Promise((r) => setImmediate(r));
  c.push(3);
  c.close();
  assert.deepEqual(await reading, [1, 2, 3]);
});

test("reset drops unread values and delivers the marker", async () => {
  const c = new EventChannel<string>();
  c.push("stale-1");
  c.push("stale-2");
  c.reset("restart");
  c.push("fresh");
  c.close();
  assert.deepEqual(await drain(c), ["restart", "fresh"]);
});

test("fail rejects the reader after the buffered values", async () => {
  const c = new EventChannel<number>();
  c.push(1);
  c.fail(new Error("boom"));
  const seen: number[] = [];
  await assert.rejects(async () => {
    for await (const v of c) seen.push(v);
  }, /boom/);
  assert.deepEqual(seen, [1]);
});
