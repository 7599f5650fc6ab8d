import { test } from "node:test";
import assert from "node:assert/strict";
import {
  AdmissionQueue,
  QueueFullError,
  pickReplica,
  retryAfterSeconds,
} from "../../../src/scheduler/index.js";

const item = (id: string, priority = 0) => ({ id, priority });

test("FIFO within a priority, higher priority first", () => {
  const q = new AdmissionQueue<{ id: string; priority: number }>(10, 1000);
  q.push(item("a"), 0);
  q.push(item("b"), 1);
  q.push(item("hi", 5), 2);
  q.push(item("c"), 3);
  assert.deepEqual(
    [q.shift()?.id, q.shift()?.id, q.shift()?.id, q.shift()?.id],
    ["hi", "a", "b", "c"],
  );
  assert.equal(q.shift(), undefined);
});

test("the limit refuses the next push, and counts only waiting requests", () => {
  const q = new AdmissionQueue<{ id: string; priority: number }>(2, 1000);
  q.push(item("a"), 0);
  q.push(item("b"), 0);
  assert.throws(() => q.push(item("c"), 0), QueueFullError);
  q.shift();
  q.push(item("c"), 0);
  assert.equal(q.size, 2);
});

test("a re-queued request goes first and ignores the limit", () => {
  const q = new AdmissionQueue<{ id: string; priority: number }>(1, 1000);
  q.push(item("waiting"), 0);
  q.requeue(item("survivor"), 5);
  q.requeue(item("second-survivor"), 6);
  assert.equal(q.size, 3);
  assert.equal(q.shift()?.id, "second-survivor");
  assert.equal(q.shift()?.id, "survivor");
  assert.equal(q.shift()?.id, "waiting");
});

test("expire removes requests that waited the timeout, by the injected clock", () => {
  const q = new AdmissionQueue<{ id: string; priority: number }>(10, 100);
  q.push(item("old"), 0);
  q.push(item("new"), 60);
  assert.deepEqual(
    q.expire(99).map((i) => i.id),
    [],
  );
  assert.equal(q.oldestWaitMs(99), 99);
  assert.deepEqual(
    q.expire(100).map((i) => i.id),
    ["old"],
  );
  assert.deepEqual(
    q.expire(200).map((i) => i.id),
    ["new"],
  );
  assert.equal(q.size, 0);
});

test("remove takes a waiting request out", () => {
  const q = new AdmissionQueue<{ id: string; priority: number }>(10, 100);
  q.push(item("a"), 0);
  q.push(item("b"), 0);
  assert.equal(q.remove("a"), true);
  assert.equal(q.remove("a"), false);
  assert.equal(q.shift()?.id, "b");
});

test("pickReplica takes the least-loaded ready replica with a free slot", () => {
  const replicas = [
    { id: "full", ready: true, slots: 2, busy: 2 },
    { id: "busy", ready: true, slots: 4, busy: 2 },
    { id: "loading", ready: false, slots: 4, busy: 0 },
    { id: "light", ready: true, slots: 4, busy: 1 },
  ];
  assert.equal(pickReplica(replicas)?.id, "light");
  assert.equal(pickReplica(replicas.slice(0, 1)), undefined);
  assert.equal(
    pickReplica([
      { id: "a", ready: true, slots: 2, busy: 1 },
      { id: "b", ready: true, slots: 4, busy: 2 },
    ])?.id,
    "a",
  );
});

test("retryAfterSeconds estimates the drain time, within 1..60 s", () => {
  assert.equal(retryAfterSeconds(10, 0), 1);
  assert.equal(retryAfterSeconds(10, 2), 5);
  assert.equal(retryAfterSeconds(1000, 1), 60);
  assert.equal(retryAfterSeconds(0, 5), 1);
});
