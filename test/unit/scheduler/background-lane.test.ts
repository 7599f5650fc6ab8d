import { test } from "node:test";
import assert from "node:assert/strict";
import { BATCH_PRIORITY, Dispatcher } from "../../../src/scheduler/index.js";

interface R {
  id: string;
  slots: number;
}
interface T {
  id: string;
  priority: number;
  preemptible?: boolean;
}

function setup(
  share: number,
  slots = 4,
  queueLimit = 2,
  queueTimeoutMs = 1000,
  yieldsTo: "waiting" | "running" = "waiting",
) {
  const clock = { t: 1_000_000 };
  const d = new Dispatcher<T, R>(
    {
      model: "m",
      queueLimit,
      queueTimeoutMs,
      backgroundSlotShare: share,
      backgroundYieldsTo: yieldsTo,
    },
    () => clock.t,
  );
  const r = { id: "r", slots };
  d.addReplica(r);
  return { d, r, clock };
}

const batch = (id: string): T => ({ id, priority: BATCH_PRIORITY, preemptible: true });
const live = (id: string): T => ({ id, priority: 0 });

test("batch lines hold at most their share of the slots; the rest stay free for interactive requests", () => {
  const { d, r } = setup(0.5);
  assert.equal(d.backgroundSlots(), 2);
  assert.equal(d.submit(batch("b1")), r);
  assert.equal(d.submit(batch("b2")), r);
  assert.equal(d.submit(batch("b3")), undefined, "over the share: it waits");
  assert.equal(
    d.submit(live("i1")),
    r,
    "a batch line waiting does not hold an interactive one back",
  );
  assert.equal(d.submit(live("i2")), r);
  assert.equal(d.next(), undefined, "no slot: the batch line keeps waiting");
});

test("the share is at least one slot", () => {
  const { d } = setup(0.1, 2);
  assert.equal(d.backgroundSlots(), 1);
});

test("an interactive request waiting asks one running batch line for its slot, once", () => {
  const { d } = setup(1, 2);
  const b1 = batch("b1");
  const b2 = batch("b2");
  d.submit(b1);
  d.submit(b2);
  assert.equal(d.submit(live("i1")), undefined);
  const victims = d.preemptions();
  assert.equal(victims.length, 1);
  assert.ok(d.isYielding(victims[0]!));
  assert.deepEqual(d.preemptions(), [], "already yielding: no second victim for the same wait");
  d.release(victims[0]!);
  assert.equal(d.isYielding(victims[0]!), false);
  const next = d.next();
  assert.equal(next?.ticket.id, "i1", "the freed slot goes to the interactive request");
});

test("interactive requests and batch lines that cannot continue are never preempted", () => {
  const { d } = setup(1, 2);
  d.submit(live("i1"));
  d.submit({ id: "b", priority: BATCH_PRIORITY, preemptible: false });
  d.submit(live("i2"));
  assert.deepEqual(d.preemptions(), []);
});

test("batch lines in the queue neither count toward its limit nor expire", () => {
  const { d, clock } = setup(0.25, 1, 1, 100);
  d.submit(batch("b1"));
  for (let i = 0; i < 5; i++) d.submit(batch(`w${i}`));
  d.submit(live("i1"));
  assert.throws(() => d.submit(live("i2")), /queue/, "the limit counts interactive requests");
  clock.t += 1000;
  const expired = d.expire().map((e) => e.ticket.id);
  assert.deepEqual(expired, ["i1"]);
  assert.equal(d.waiting, 5);
});

test("yielding to running requests: batch lines run only while no interactive request runs or waits, and all give way when one arrives", () => {
  const { d, r } = setup(1, 4, 2, 1000, "running");
  const b1 = batch("b1");
  const b2 = batch("b2");
  assert.equal(d.submit(b1), r);
  assert.equal(d.submit(b2), r);
  assert.deepEqual(d.preemptions(), [], "nothing interactive: the lines keep their slots");
  const i1 = live("i1");
  assert.equal(d.submit(i1), r, "a free slot: the interactive request runs at once");
  assert.deepEqual(
    d.preemptions().map((t) => t.id),
    ["b1", "b2"],
    "and every running line gives way",
  );
  d.release(b1);
  d.release(b2);
  d.requeue(b1);
  d.requeue(b2);
  assert.equal(d.next(), undefined, "while i1 runs, no line starts, though slots are free");
  d.release(i1);
  assert.equal(d.next()?.ticket.id, "b2");
  assert.equal(d.next()?.ticket.id, "b1");
});
