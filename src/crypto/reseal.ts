/**
 * Re-encryption after a data key rotation: walks a collection of sealed values in bounded
 * batches and seals again, with the current key, every value sealed with another one. The walk
 * keeps a checkpoint (the collection's cursor and the counts so far) after each batch, so that
 * an interrupted run resumes where it stopped, and the previous keys stay in the keyring, still
 * opening what is left, until the walk reports it is done. A value that changed between its read
 * and its replacement is left as it is (its writer sealed it with the current key).
 */
import type { Keyring } from "./sealed.js";
import { isSealed } from "./sealed.js";

/** A store of sealed values, walked with a cursor. */
export interface SealedCollection {
  /** One batch from `cursor` ("0" first): its items and the next cursor ("0" when done). */
  scan(cursor: string, count: number): Promise<{ next: string; items: SealedItem[] }>;
  /** Puts `next` in place of `old` unless the item changed since; true when it did. */
  replace(id: string, old: Buffer, next: Buffer): Promise<boolean>;
}

export interface SealedItem {
  id: string;
  value: Buffer;
  /** What the value is bound to (its `aad`). */
  aad: string;
}

export interface ResealCounts {
  /** Items read. */
  scanned: number;
  /** Sealed again with the current key. */
  resealed: number;
  /** Already under the current key, not sealed, or changed while being resealed. */
  unchanged: number;
  /** Sealed with a key the keyring does not hold, or altered: left as they are. */
  unreadable: number;
}

export interface ResealState extends ResealCounts {
  /** The key the walk reseals to. */
  keyId: string;
  cursor: string;
  done: boolean;
}

/** Where the walk's state is kept between batches (and runs). */
export interface ResealCheckpoint {
  load(keyId: string): Promise<ResealState | undefined>;
  save(state: ResealState): Promise<void>;
}

export interface ResealOptions {
  /** Items per batch (default 200). */
  batch?: number;
  /** Stop after this many batches (a bounded run; the next one resumes). */
  maxBatches?: number;
  /** A pause between batches, in ms, so that a live store is not swamped (default 0). */
  pauseMs?: number;
  checkpoint?: ResealCheckpoint;
  /** Told after each batch. */
  onProgress?(state: ResealState): void;
  /** Checked between batches: true stops the walk (its checkpoint is kept). */
  stopped?(): boolean;
}

/** A fresh walk's state, or the checkpoint's (a walk already done starts over). */
async function startState(ring: Keyring, checkpoint?: ResealCheckpoint): Promise<ResealState> {
  const saved = await checkpoint?.load(ring.current.id);
  if (saved && !saved.done) return saved;
  return {
    keyId: ring.current.id,
    cursor: "0",
    done: false,
    scanned: 0,
    resealed: 0,
    unchanged: 0,
    unreadable: 0,
  };
}

/** Reseals what one batch holds; returns how each item went. */
async function resealBatch(
  collection: SealedCollection,
  ring: Keyring,
  items: SealedItem[],
  state: ResealState,
): Promise<void> {
  for (const item of items) {
    state.scanned++;
    if (!isSealed(item.value) || ring.keyIdOf(item.value) === ring.current.id) {
      state.unchanged++;
      continue;
    }
    let next: Buffer;
    try {
      next = ring.reseal(item.value, item.aad);
    } catch {
      state.unreadable++;
      continue;
    }
    if (await collection.replace(item.id, item.value, next)) state.resealed++;
    else state.unchanged++;
  }
}

/**
 * Walks `collection`, resealing every value not under the current key; resolves with the state
 * at the end of the run (`done` once the whole collection was walked).
 */
export async function resealAll(
  collection: SealedCollection,
  ring: Keyring,
  options: ResealOptions = {},
): Promise<ResealState> {
  const batch = options.batch ?? 200;
  const state = await startState(ring, options.checkpoint);
  for (let n = 0; !state.done; n++) {
    if (options.stopped?.() || (options.maxBatches !== undefined && n >= options.maxBatches)) {
      break;
    }
    if (n > 0 && options.pauseMs) await new Promise((r) => setTimeout(r, options.pauseMs));
    const { next, items } = await collection.scan(state.cursor, batch);
    await resealBatch(collection, ring, items, state);
    state.cursor = next;
    state.done = next === "0";
    await options.checkpoint?.save(state);
    options.onProgress?.({ ...state });
  }
  return { ...state };
}
