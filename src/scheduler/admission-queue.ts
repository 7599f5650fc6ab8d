/**
 * A bounded admission queue for one model: priority first, FIFO within a priority. Pure: the
 * caller passes the time in, so tests drive it with a fake clock.
 *
 * Two lanes: interactive requests (priority 0 and up) are bounded by the limit and expire after
 * the timeout; background ones (below 0: batch lines) are bounded by whoever submits them (the
 * batch runner keeps a few in flight), never take an interactive request's place in the limit,
 * and wait as long as interactive requests keep the slots.
 */
export interface Queued {
  readonly id: string;
  /** Higher runs first; ties keep arrival order. */
  readonly priority: number;
}

interface Entry<T> {
  item: T;
  enqueuedAt: number;
  seq: number;
}

export class QueueFullError extends Error {
  constructor(readonly limit: number) {
    super(`queue is full (${limit} waiting)`);
    this.name = "QueueFullError";
  }
}

export class AdmissionQueue<T extends Queued> {
  private entries: Entry<T>[] = [];
  private seq = 0;

  constructor(
    private readonly limit: number,
    private readonly timeoutMs: number,
  ) {}

  get size(): number {
    return this.entries.length;
  }

  /** Interactive requests waiting (priority 0 and up). */
  get interactive(): number {
    let n = 0;
    for (const e of this.entries) if (e.item.priority >= 0) n++;
    return n;
  }

  /**
   * Adds a new request; throws QueueFullError when `limit` interactive requests are already
   * waiting (a background request is never refused here).
   */
  push(item: T, now: number): void {
    if (item.priority >= 0 && this.interactive >= this.limit) throw new QueueFullError(this.limit);
    this.insert({ item, enqueuedAt: now, seq: this.seq++ });
  }

  /**
   * Puts back a request that was already admitted (its worker died). It goes ahead of every
   * request of its priority and ignores the limit: an accepted request is never dropped.
   */
  requeue(item: T, now: number): void {
    this.insert({ item, enqueuedAt: now, seq: -1 - this.seq++ });
  }

  private insert(entry: Entry<T>): void {
    let i = this.entries.length;
    while (i > 0 && this.before(entry, this.entries[i - 1]!)) i--;
    this.entries.splice(i, 0, entry);
  }

  private before(a: Entry<T>, b: Entry<T>): boolean {
    if (a.item.priority !== b.item.priority) return a.item.priority > b.item.priority;
    return a.seq < b.seq;
  }

  /** The next request to run, left in the queue. */
  peek(): T | undefined {
    return this.entries[0]?.item;
  }

  /** The next request to run, removed from the queue. */
  shift(): T | undefined {
    return this.entries.shift()?.item;
  }

  /** Removes a request (its client went away); true when it was waiting. */
  remove(id: string): boolean {
    const index = this.entries.findIndex((e) => e.item.id === id);
    if (index === -1) return false;
    this.entries.splice(index, 1);
    return true;
  }

  /** Removes and returns the interactive requests that have waited longer than the timeout. */
  expire(now: number): T[] {
    const expired: T[] = [];
    this.entries = this.entries.filter((e) => {
      if (e.item.priority >= 0 && now - e.enqueuedAt >= this.timeoutMs) {
        expired.push(e.item);
        return false;
      }
      return true;
    });
    return expired;
  }

  /** Milliseconds the oldest request has waited. */
  oldestWaitMs(now: number): number {
    let oldest = now;
    for (const e of this.entries) oldest = Math.min(oldest, e.enqueuedAt);
    return now - oldest;
  }
}
