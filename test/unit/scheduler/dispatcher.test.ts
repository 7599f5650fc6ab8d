import { test } from "node:test";
import assert from "node:assert/strict";
import { BulwarkError } from "../../../src/errors/index.js";
import { Dispatcher } from "../../../src/scheduler/index.js";

interface R {
  id: string;
  slots: number;
  draining?: boolean;
}
interface T {
  id: string;
  priority: number;
  avoid?: Set<string>;
}

function setup(queueLimit = 4, queueTimeoutMs = 1000) {
  const clock = { t: 1_000_000 };
  const d = new Dispatcher<T, R>(
    { model: "m", queueLimit, queueTimeoutMs },
    () => clock.t,
    (r) => !r.draining,
  );
  return { d, clock };
}

const t = (id: string, priority = 0): T => ({ id, priority });

test("a request runs at once on the least-loaded replica with a free slot", () => {
  const { d } = setup();
  const a = { id: "a", slots: 2 };
  const b = { id: "b", slots: 2 };
  d.addReplica(a);
  d.addReplica(b);
  assert.equal(d.submit(t("1")), a);
  assert.equal(d.submit(t("2")), b);
  assert.equal(d.submit(t("3")), a);
  assert.equal(d.submit(t("4")), b);
  assert.equal(d.submit(t("5")), undefined, "all slots busy: it waits");
  assert.equal(d.waiting, 1);
  assert.equal(d.inFlight(), 5);
});

test("with nobody ready a request waits, and starts when a replica arrives", () => {
  const { d } = setup();
  assert.equal(d.hasReplica(), false);
  const first = t("1");
  assert.equal(d.submit(first), undefined);
  assert.equal(d.next(), undefined);
  const r = { id: "r", slots: 1 };
  d.addReplica(r);
  assert.deepEqual(d.next(), { ticket: first, replica: r });
  assert.equal(d.replicaOf(first), r);
  assert.equal(d.next(), undefined);
});

test("a waiting request is not overtaken by a new one when a slot frees", () => {
  const { d } = setup();
  const r = { id: "r", slots: 1 };
  d.addReplica(r);
  const running = t("run");
  d.submit(running);
  d.submit(t("waiting"));
  d.release(running);
  assert.equal(d.submit(t("new")), undefined, "the new one queues behind the waiting one");
  assert.equal(d.next()?.ticket.id, "waiting");
});

test("a draining replica takes no new request", () => {
  const { d } = setup();
  const a = { id: "a", slots: 4, draining: true };
  const b = { id: "b", slots: 1 };
  d.addReplica(a);
  d.addReplica(b);
  assert.equal(d.submit(t("1")), b);
  assert.equal(d.submit(t("2")), undefined);
  assert.equal(d.leastBusy(), b, "a slot-free call may go to a full replica, not a draining one");
});

test("the least busy replica serves a slot-free call", () => {
  const { d } = setup();
  const a = { id: "a", slots: 4 };
  const b = { id: "b", slots: 4 };
  d.addReplica(a);
  d.addReplica(b);
  d.submit(t("1"));
  assert.equal(d.leastBusy(), b);
});

test("queue_full carries a Retry-After from the completion rate", () => {
  const { d, clock } = setup(1);
  const r = { id: "r", slots: 1 };
  d.addReplica(r);
  const tickets = ["1", "2", "3", "4"].map((id) => t(id));
  d.submit(tickets[0]!);
  for (let i = 0; i < 3; i++) {
    clock.t += 500;
    d.release(tickets[i]!);
    d.completed();
    d.submit(tickets[i + 1]!);
  }
  d.submit(t("waits"));
  assert.throws(
    () => d.submit(t("over")),
    (err: unknown) =>
      err instanceof BulwarkError && err.code === "queue_full" && err.retryAfterSeconds === 1,
  );
  assert.ok(d.completionRate() > 0);
});

test("requests past the queue timeout expire with queue_timeout", () => {
  const { d, clock } = setup(4, 1000);
  d.submit(t("old"));
  clock.t += 600;
  d.submit(t("young"));
  clock.t += 500;
  const expired = d.expire();
  assert.deepEqual(
    expired.map((e) => [e.ticket.id, e.error.code]),
    [["old", "queue_timeout"]],
  );
  assert.equal(d.waiting, 1);
});

test("a re-queued request goes ahead of its priority, beyond the limit", () => {
  const { d } = setup(1);
  d.submit(t("waiting"));
  const lost = t("lost");
  d.requeue(lost);
  assert.equal(d.waiting, 2);
  const r = { id: "r", slots: 1 };
  d.addReplica(r);
  assert.equal(d.next()?.ticket, lost);
});

test("release frees the slot only for the placement it names", () => {
  const { d } = setup();
  const a = { id: "a", slots: 1 };
  const b = { id: "b", slots: 1 };
  d.addReplica(a);
  const ticket = t("1");
  assert.equal(d.submit(ticket), a);
  d.release(ticket, a);
  d.requeue(ticket);
  d.removeReplica(a);
  d.addReplica(b);
  assert.equal(d.next()?.replica, b);
  d.release(ticket, a);
  assert.equal(d.replicaOf(ticket), b, "a late event from the old replica frees nothing");
  assert.equal(d.inFlight(), 1);
  d.release(ticket, b);
  assert.equal(d.inFlight(), 0);
});

test("withdraw removes a waiting request; drainQueue empties the queue", () => {
  const { d } = setup();
  const a = t("a");
  d.submit(a);
  d.submit(t("b"));
  d.submit(t("c"));
  assert.equal(d.withdraw(a), true);
  assert.equal(d.withdraw(a), false);
  assert.deepEqual(
    d.drainQueue().map((x) => x.id),
    ["b", "c"],
  );
  assert.equal(d.waiting, 0);
});

test("a request is never placed again on a replica it was lost on", () => {
  const { d } = setup();
  const a = { id: "a", slots: 2 };
  const b = { id: "b", slots: 1 };
  d.addReplica(a);
  d.addReplica(b);
  const lost: T = { id: "lost", priority: 0, avoid: new Set(["a"]) };
  assert.equal(d.submit(lost), b, "a is emptier, but the request died there");
  d.release(lost);
  lost.avoid!.add("b");
  d.requeue(lost);
  assert.equal(d.next(), undefined, "only replicas it died on are free: it waits");
  d.submit(t("other"));
  assert.equal(d.next(), undefined, "the head waits for a replica it may use");
  const c = { id: "c", slots: 1 };
  d.addReplica(c);
  assert.deepEqual(d.next(), { ticket: lost, replica: c });
});

test("a slot-free call avoids the replicas that died under it", () => {
  const { d } = setup();
  const a = { id: "a", slots: 1 };
  const b = { id: "b", slots: 1 };
  d.addReplica(a);
  d.addReplica(b);
  assert.equal(d.leastBusy(new Set(["a"])), b);
  assert.equal(d.leastBusy(new Set(["a", "b"])), undefined);
});
