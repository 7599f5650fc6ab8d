/**
 * The semantic cache's indexes, pure: one index per tenant, each its own object (a lookup can
 * only ever reach the index of its own tenant, never a shared one through a filter). Inside an
 * index, questions are grouped by their exact context (the hash of everything but the last user
 * message: system prompt, earlier turns, sampling fields, model and embedding model digests), so
 * a question is compared only with questions asked in the same context. Each entry points at an
 * answer of the exact cache.
 */

interface Entry {
  /** The question's embedding, scaled to length 1. */
  vector: Float32Array;
  /** The exact cache key of its answer. */
  entryKey: string;
}

/** Scales a vector to length 1 (cosine similarity is then a dot product); undefined for zero. */
export function unitVector(vector: readonly number[]): Float32Array | undefined {
  const norm = Math.hypot(...vector);
  if (!(norm > 0) || !Number.isFinite(norm)) return undefined;
  return Float32Array.from(vector, (v) => v / norm);
}

function dot(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return -1;
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}

/** One tenant's questions, bounded: past `maxEntries` the oldest leave first. */
export class SemanticIndex {
  private readonly byContext = new Map<string, Entry[]>();
  private readonly order: { context: string; entry: Entry }[] = [];

  constructor(private readonly maxEntries: number) {}

  get size(): number {
    return this.order.length;
  }

  add(context: string, vector: Float32Array, entryKey: string): void {
    const entry = { vector, entryKey };
    const list = this.byContext.get(context) ?? [];
    list.push(entry);
    this.byContext.set(context, list);
    this.order.push({ context, entry });
    while (this.order.length > this.maxEntries) {
      const old = this.order.shift()!;
      this.drop(old.context, old.entry);
    }
  }

  /** The most similar question asked in `context`, with its similarity (−1..1). */
  nearest(
    context: string,
    vector: Float32Array,
  ): { entryKey: string; similarity: number } | undefined {
    let best: { entryKey: string; similarity: number } | undefined;
    for (const entry of this.byContext.get(context) ?? []) {
      const similarity = dot(entry.vector, vector);
      if (!best || similarity > best.similarity) best = { entryKey: entry.entryKey, similarity };
    }
    return best;
  }

  /** Forgets every question whose answer is `entryKey` (the answer is gone). */
  forget(context: string, entryKey: string): void {
    for (const entry of [...(this.byContext.get(context) ?? [])]) {
      if (entry.entryKey === entryKey) this.drop(context, entry);
    }
    const i = this.order.findIndex((o) => o.entry.entryKey === entryKey);
    if (i >= 0) this.order.splice(i, 1);
  }

  private drop(context: string, entry: Entry): void {
    const list = this.byContext.get(context);
    if (!list) return;
    const at = list.indexOf(entry);
    if (at >= 0) list.splice(at, 1);
    if (list.length === 0) this.byContext.delete(context);
  }
}

/** The indexes of every tenant that has one. */
export class SemanticIndexes {
  private readonly byTenant = new Map<string, SemanticIndex>();

  constructor(private readonly maxEntriesPerTenant: number) {}

  /** The tenant's own index (made on first use). */
  of(tenant: string): SemanticIndex {
    let index = this.byTenant.get(tenant);
    if (!index) {
      index = new SemanticIndex(this.maxEntriesPerTenant);
      this.byTenant.set(tenant, index);
    }
    return index;
  }

  /** The tenant's index if it has one, for lookups (they never create one). */
  find(tenant: string): SemanticIndex | undefined {
    return this.byTenant.get(tenant);
  }

  /** Drops one tenant's index, or all of them. */
  clear(tenant?: string): void {
    if (tenant === undefined) this.byTenant.clear();
    else this.byTenant.delete(tenant);
  }

  /** Questions held, over all tenants. */
  size(): number {
    let n = 0;
    for (const index of this.byTenant.values()) n += index.size;
    return n;
  }
}
