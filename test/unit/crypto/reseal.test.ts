import { test } from "node:test";
import assert from "node:assert/strict";
import {
  Keyring,
  resealAll,
  type ResealCheckpoint,
  type ResealState,
  type SealedCollection,
} from "../../../src/crypto/index.js";

const ring = (hex: string, previous: string[] = []) =>
  new Keyring(
    Keyring.fromEnv({ BULWARK_DATA_KEY: hex.repeat(64) })!.current,
    previous.map((p) => Keyring.fromEnv({ BULWARK_DATA_KEY: p.repeat(64) })!.current),
  );

/** Items in a Map, walked in insertion order with the cursor as an index. */
function memoryCollection(items: Map<string, Buffer>): SealedCollection & { replaced: number } {
  const c = {
    replaced: 0,
    async scan(cursor: string, count: number) {
      const all = [...items.entries()];
      const from = Number(cursor);
      const page = all.slice(from, from + count).map(([id, value]) => ({ id, value, aad: id }));
      const next = from + count >= all.length ? "0" : String(from + count);
      return { next, items: page };
    },
    async replace(id: string, old: Buffer, next: Buffer) {
      if (!items.get(id)?.equals(old)) return false;
      items.set(id, next);
      c.replaced++;
      return true;
    },
  };
  return c;
}

function memoryCheckpoint(): ResealCheckpoint & { saved: ResealState[] } {
  const byKey = new Map<string, ResealState>();
  const saved: ResealState[] = [];
  return {
    saved,
    async load(keyId) {
      return byKey.get(keyId);
    },
    async save(state) {
      byKey.set(state.keyId, { ...state });
      saved.push({ ...state });
    },
  };
}

test("a reseal moves every value to the current key in batches, resumes from its checkpoint, and leaves what it cannot open", async () => {
  const old = ring("a");
  const items = new Map<string, Buffer>();
  for (let i = 0; i < 25; i++) items.set(`v${i}`, old.seal(`text ${i}`, `v${i}`));
  items.set("plain", Buffer.from("not sealed"));
  items.set("foreign", ring("f").seal("another key's", "foreign"));
  const rotated = ring("b", ["a"]);
  items.set("fresh", rotated.seal("already current", "fresh"));
  const collection = memoryCollection(items);
  const checkpoint = memoryCheckpoint();
  const progress: number[] = [];
  // A bounded run: two batches of 10, then it stops with its cursor kept.
  const first = await resealAll(collection, rotated, {
    batch: 10,
    maxBatches: 2,
    checkpoint,
    onProgress: (p) => progress.push(p.scanned),
  });
  assert.equal(first.done, false);
  assert.equal(first.cursor, "20");
  assert.deepEqual(progress, [10, 20]);
  assert.equal(first.resealed, 20);
  // Meanwhile the old key still opens what is left.
  assert.equal(rotated.keyIdOf(items.get("v24")!), old.current.id);
  assert.equal(rotated.open(items.get("v24")!, "v24").toString(), "text 24");
  // The next run resumes at the checkpoint and finishes.
  const second = await resealAll(collection, rotated, { batch: 10, checkpoint });
  assert.equal(second.done, true);
  assert.deepEqual(
    { scanned: second.scanned, resealed: second.resealed, unchanged: second.unchanged },
    { scanned: 28, resealed: 25, unchanged: 2 },
  );
  assert.equal(second.unreadable, 1, "the value of a key the ring does not hold");
  assert.equal(collection.replaced, 25);
  // Every value of the old key now opens with the new key alone.
  const newOnly = ring("b");
  for (let i = 0; i < 25; i++) {
    assert.equal(newOnly.open(items.get(`v${i}`)!, `v${i}`).toString(), `text ${i}`);
  }
  assert.equal(items.get("plain")!.toString(), "not sealed");
});

test("a value changed between its read and its replacement is left to its writer", async () => {
  const old = ring("a");
  const rotated = ring("b", ["a"]);
  const items = new Map([["x", old.seal("first", "x")]]);
  const collection = memoryCollection(items);
  const scan = collection.scan.bind(collection);
  collection.scan = async (cursor, count) => {
    const page = await scan(cursor, count);
    items.set("x", rotated.seal("written meanwhile", "x"));
    return page;
  };
  const state = await resealAll(collection, rotated);
  assert.equal(state.resealed, 0);
  assert.equal(state.unchanged, 1);
  assert.equal(rotated.open(items.get("x")!, "x").toString(), "written meanwhile");
});

test("a run stops between batches when asked, its checkpoint kept", async () => {
  const old = ring("a");
  const items = new Map<string, Buffer>();
  for (let i = 0; i < 5; i++) items.set(`v${i}`, old.seal("t", `v${i}`));
  const checkpoint = memoryCheckpoint();
  let batches = 0;
  const state = await resealAll(memoryCollection(items), ring("b", ["a"]), {
    batch: 2,
    checkpoint,
    onProgress: () => batches++,
    stopped: () => batches >= 1,
  });
  assert.equal(state.done, false);
  assert.equal(state.scanned, 2);
  assert.equal(checkpoint.saved.at(-1)?.cursor, "2");
});
