import { test } from "node:test";
import assert from "node:assert/strict";
import {
  Dispatcher,
  MIN_PREFIX_BLOCKS,
  PrefixAffinityRouter,
  TOKEN_BLOCK,
  leastOutstanding,
  prefixChain,
} from "../../../src/scheduler/index.js";

const load = (id: string, busy: number, slots = 4) => ({ id, ready: true, slots, busy });
const tokens = (seed: number, n: number) => Array.from({ length: n }, (_, i) => seed * 1000 + i);

test("prefixChain: one hash per whole block, each covering the blocks before it", () => {
  const a = prefixChain({ tokens: tokens(1, TOKEN_BLOCK * 3 + 5) });
  assert.equal(a.length, 3);
  const b = prefixChain({ tokens: [...tokens(1, TOKEN_BLOCK * 2), ...tokens(9, TOKEN_BLOCK)] });
  assert.deepEqual(b.slice(0, 2), a.slice(0, 2));
  assert.notEqual(b[2], a[2]);
  assert.equal(prefixChain({ text: "x".repeat(63) }).length, 0);
  assert.equal(prefixChain({ text: "x".repeat(64 * 2) }).length, 2);
});

test("least-outstanding picks the lowest busy/slots ratio", () => {
  assert.equal(leastOutstanding.choose([load("a", 3), load("b", 1), load("c", 2)])?.id, "b");
  assert.equal(leastOutstanding.choose([load("a", 4), load("b", 4)]), undefined);
});

test("prefix affinity sends a shared prefix back where it went, longest match first", () => {
  const router = new PrefixAffinityRouter(() => 0);
  const p1 = prefixChain({ tokens: tokens(1, TOKEN_BLOCK * 8) });
  const p2 = prefixChain({ tokens: tokens(2, TOKEN_BLOCK * 8) });
  assert.equal(router.choose([load("a", 0), load("b", 0)], p1)?.id, "a");
  // b is now the less loaded one: p2 goes there, p1 still goes to a.
  assert.equal(router.choose([load("a", 1), load("b", 0)], p2)?.id, "b");
  assert.equal(router.choose([load("a", 1), load("b", 1)], p1)?.id, "a");
  assert.equal(router.choose([load("a", 2), load("b", 1)], p2)?.id, "b");
  // A prompt sharing only p1's first 6 blocks follows p1.
  const p3 = prefixChain({
    tokens: [...tokens(1, TOKEN_BLOCK * 6), ...tokens(3, TOKEN_BLOCK * 2)],
  });
  assert.equal(router.choose([load("a", 1), load("b", 0)], p3)?.id, "a");
});

test("a match shorter than the minimum prefix does not count", () => {
  const router = new PrefixAffinityRouter(() => 0);
  const shared = tokens(7, TOKEN_BLOCK * (MIN_PREFIX_BLOCKS - 1));
  const first = prefixChain({ tokens: [...shared, ...tokens(1, TOKEN_BLOCK * 4)] });
  const second = prefixChain({ tokens: [...shared, ...tokens(2, TOKEN_BLOCK * 4)] });
  assert.equal(router.choose([load("a", 0), load("b", 0)], first)?.id, "a");
  // Only the short system prompt is shared: least loaded, not a.
  assert.equal(router.choose([load("a", 1), load("b", 0)], second)?.id, "b");
  // A prompt below the minimum gets no affinity at all.
  const short = prefixChain({ tokens: shared });
  assert.equal(router.choose([load("a", 0), load("b", 1)], short)?.id, "a");
});

test("the load guard moves a hot prefix off a target much fuller than the rest", () => {
  let t = 0;
  const router = new PrefixAffinityRouter(() => ++t);
  const hot = prefixChain({ tokens: tokens(5, TOKEN_BLOCK * 8) });
  assert.equal(router.choose([load("a", 0), load("b", 0)], hot)?.id, "a");
  assert.equal(router.choose([load("a", 2), load("b", 0)], hot)?.id, "a"); // 0.5 over: allowed
  assert.equal(router.choose([load("a", 3), load("b", 0)], hot)?.id, "b"); // 0.75 over: moved
  assert.equal(router.choose([load("a", 4), load("b", 1)], hot)?.id, "b"); // a is full
  // Both now hold it: the most recent one is preferred while the loads allow.
  assert.equal(router.choose([load("a", 1), load("b", 1)], hot)?.id, "b");
});

test("each target keeps an LRU of chains; a target that left is forgotten", () => {
  const router = new PrefixAffinityRouter(() => 0, { chainsPerTarget: 8 });
  const p1 = prefixChain({ tokens: tokens(1, TOKEN_BLOCK * 8) });
  const p2 = prefixChain({ tokens: tokens(2, TOKEN_BLOCK * 8) });
  router.choose([load("a", 0), load("b", 1)], p1);
  router.choose([load("a", 0), load("b", 1)], p2); // pushes p1's chains out of a's LRU
  assert.equal(router.choose([load("a", 1), load("b", 0)], p1)?.id, "b");
  router.forget("b");
  assert.equal(router.choose([load("a", 0), load("b", 1)], p1)?.id, "a");
});

test("the dispatcher routes by the ticket's prefix and never to a replica that cannot run it", () => {
  const router = new PrefixAffinityRouter(() => 0);
  const d = new Dispatcher<
    { id: string; priority: number; prefix?: number[]; textOnly?: boolean },
    { id: string; slots: number; remote?: boolean }
  >(
    { model: "m", queueLimit: 10, queueTimeoutMs: 1000 },
    () => 0,
    (r, t) => !t?.textOnly || r.remote === true,
    router,
  );
  const local = { id: "local", slots: 4 };
  const remote = { id: "remote", slots: 4, remote: true };
  d.addReplica(local);
  d.addReplica(remote);
  const p = prefixChain({ tokens: tokens(1, TOKEN_BLOCK * 8) });
  assert.equal(d.submit({ id: "1", priority: 0, prefix: p }), local);
  assert.equal(d.submit({ id: "2", priority: 0, prefix: p }), local);
  assert.equal(d.submit({ id: "3", priority: 0, textOnly: true }), remote);
});
