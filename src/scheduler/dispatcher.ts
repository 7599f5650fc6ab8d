/**
 * Dispatch for one model: the admission queue, which ready replica takes the next request, the
 * busy count of every replica, and the completion rate behind Retry-After. Pure: the time comes
 * from an injected clock and nothing here starts a timer or a process; the host runs the jobs
 * and tells the dispatcher when a replica comes or goes and when a request ends.
 */
import { BulwarkError } from "../errors/index.js";
import { AdmissionQueue, QueueFullError, type Queued } from "./admission-queue.js";
import { retryAfterSeconds } from "./slot-choice.js";
import { leastOutstanding, type Router } from "./routing.js";

/** A replica as the dispatcher sees it. */
export interface Slotted {
  readonly id: string;
  readonly slots: number;
}

export interface DispatcherSettings {
  /** The model's name, for the messages of queue_full and queue_timeout. */
  model: string;
  queueLimit: number;
  queueTimeoutMs: number;
  /**
   * Share of the ready slots that background requests (priority below 0, batch lines) may hold
   * at once, 0..1; at least one slot. Default 1.
   */
  backgroundSlotShare?: number;
  /**
   * When background requests give way: "waiting" (default), a running one gives its slot up
   * when an interactive request waits for a slot; "running", background requests run only while
   * no interactive request runs or waits on the model, and every running one gives way at its
   * next token when one arrives (on CPUs the decode step, not the slot, is what they share).
   */
  backgroundYieldsTo?: "waiting" | "running";
}

/** The priority of a batch line: below every interactive request. */
export const BATCH_PRIORITY = -1;

/** A request the dispatcher places. */
export interface Placeable extends Queued {
  /** Replicas this request was lost on: never chosen for it again (their ids are not reused). */
  readonly avoid?: ReadonlySet<string>;
  /** A background request that can give its slot up and continue later from its tokens. */
  readonly preemptible?: boolean;
  /** Its prompt's block chain, for prefix-affinity routing (prefixChain). */
  readonly prefix?: readonly number[];
}

export interface Assignment<T, R> {
  ticket: T;
  replica: R;
}

/** Completions kept for the rate estimate. */
const RATE_WINDOW = 64;

export class Dispatcher<T extends Placeable, R extends Slotted> {
  private readonly queue: AdmissionQueue<T>;
  /** Replicas that have loaded and not gone, in the order they became ready. */
  private readonly replicas: R[] = [];
  private readonly busy = new Map<string, number>();
  private readonly placed = new Map<T, R>();
  /** Background requests asked to give their slot up; they leave at their next token. */
  private readonly yielding = new Set<T>();
  private readonly completions: number[] = [];

  /**
   * `now`: epoch ms. `accepting`: whether a ready replica takes new requests now (a draining
   * one does not), and, given a request, whether it can run that request. `router`: which of
   * the replicas with a free slot takes a request.
   */
  constructor(
    private readonly settings: DispatcherSettings,
    private readonly now: () => number,
    private readonly accepting: (replica: R, ticket?: T) => boolean = () => true,
    private readonly router: Router = leastOutstanding,
  ) {
    this.queue = new AdmissionQueue(settings.queueLimit, settings.queueTimeoutMs);
  }

  get waiting(): number {
    return this.queue.size;
  }

  /** Interactive requests waiting (priority 0 and up; not the background lane's). */
  get waitingInteractive(): number {
    return this.queue.interactive;
  }

  /** Whether some replica is ready to serve. */
  hasReplica(): boolean {
    return this.replicas.length > 0;
  }

  /** A replica finished loading. */
  addReplica(replica: R): void {
    if (this.replicas.includes(replica)) return;
    this.replicas.push(replica);
    this.busy.set(replica.id, 0);
  }

  /** A replica stopped serving; its requests are released by the host. */
  removeReplica(replica: R): void {
    const index = this.replicas.indexOf(replica);
    if (index !== -1) this.replicas.splice(index, 1);
    this.busy.delete(replica.id);
    this.router.forget(replica.id);
  }

  private loads(avoid?: ReadonlySet<string>, ticket?: T) {
    return this.replicas
      .filter((r) => this.accepting(r, ticket) && !avoid?.has(r.id))
      .map((r) => ({ id: r.id, ready: true, slots: r.slots, busy: this.busy.get(r.id) ?? 0, r }));
  }

  /**
   * Admits a new request: the replica to run it on now when one has a free slot and nobody is
   * waiting, else undefined (it waits in the queue). Throws queue_full when the queue is full.
   */
  submit(ticket: T): R | undefined {
    // Waiting requests of a lower priority do not hold a new one back.
    const head = this.queue.peek();
    const ahead = head !== undefined && head.priority >= ticket.priority;
    const free =
      !ahead && this.mayPlace(ticket)
        ? this.router.choose(this.loads(ticket.avoid, ticket), ticket.prefix)
        : undefined;
    if (free) {
      this.place(ticket, free.r);
      return free.r;
    }
    try {
      this.queue.push(ticket, this.now());
    } catch (err) {
      if (!(err instanceof QueueFullError)) throw err;
      throw new BulwarkError(
        "queue_full",
        `The queue of model ${this.settings.model} is full (${err.limit} waiting). Retry later.`,
        { retryAfterSeconds: this.retryAfter() },
      );
    }
    return undefined;
  }

  /** Puts back a request whose replica died, ahead of its priority (see AdmissionQueue). */
  requeue(ticket: T): void {
    this.queue.requeue(ticket, this.now());
  }

  /**
   * The next waiting request with the replica that takes it, while one has a free slot. The
   * head of the queue waits for a replica it may run on (one it was not lost on).
   */
  next(): Assignment<T, R> | undefined {
    const head = this.queue.peek();
    if (!head || !this.mayPlace(head)) return undefined;
    const free = this.router.choose(this.loads(head.avoid, head), head.prefix);
    if (!free) return undefined;
    const ticket = this.queue.shift()!;
    this.place(ticket, free.r);
    return { ticket, replica: free.r };
  }

  /** Whether the background lane has room for `ticket` (interactive requests always may). */
  private mayPlace(ticket: T): boolean {
    if (ticket.priority >= 0) return true;
    if (this.settings.backgroundYieldsTo === "running" && this.interactiveActive() > 0)
      return false;
    return this.backgroundRunning() < this.backgroundSlots();
  }

  /** Interactive requests running or waiting. */
  private interactiveActive(): number {
    let n = this.queue.interactive;
    for (const t of this.placed.keys()) if (t.priority >= 0) n++;
    return n;
  }

  private backgroundRunning(): number {
    let n = 0;
    for (const t of this.placed.keys()) if (t.priority < 0) n++;
    return n;
  }

  /** Slots the background lane may hold: its share of the ready slots, at least one. */
  backgroundSlots(): number {
    const share = this.settings.backgroundSlotShare ?? 1;
    const total = this.loads().reduce((n, r) => n + r.slots, 0);
    return Math.max(1, Math.floor(total * share));
  }

  /**
   * The running background requests to ask for their slots now: one for each interactive
   * request waiting beyond those already being given a slot (or, yielding to "running", every
   * one while an interactive request runs or waits). Each is marked yielding until it is
   * released; the host aborts it and requeues its continuation.
   */
  preemptions(): T[] {
    let wanted =
      this.settings.backgroundYieldsTo === "running"
        ? this.interactiveActive() > 0
          ? Infinity
          : 0
        : this.queue.interactive - this.yielding.size;
    const victims: T[] = [];
    if (wanted <= 0) return victims;
    for (const t of this.placed.keys()) {
      if (wanted <= 0) break;
      if (t.priority >= 0 || !t.preemptible || this.yielding.has(t)) continue;
      this.yielding.add(t);
      victims.push(t);
      wanted--;
    }
    return victims;
  }

  /** Whether a request was asked to give its slot up (see preemptions). */
  isYielding(ticket: T): boolean {
    return this.yielding.has(ticket);
  }

  private place(ticket: T, replica: R): void {
    this.placed.set(ticket, replica);
    this.busy.set(replica.id, (this.busy.get(replica.id) ?? 0) + 1);
  }

  /** The replica a request runs on, if it runs. */
  replicaOf(ticket: T): R | undefined {
    return this.placed.get(ticket);
  }

  /**
   * A request left its replica (finished, failed or lost): its slot is free again. With
   * `replica`, only if the request is still placed there (a late event of an earlier placement
   * frees nothing).
   */
  release(ticket: T, from?: R): void {
    const replica = this.placed.get(ticket);
    if (!replica || (from !== undefined && from !== replica)) return;
    this.placed.delete(ticket);
    this.yielding.delete(ticket);
    const n = this.busy.get(replica.id);
    if (n !== undefined) this.busy.set(replica.id, Math.max(0, n - 1));
  }

  /** A request finished: counts toward the completion rate. */
  completed(): void {
    this.completions.push(this.now());
    if (this.completions.length > RATE_WINDOW) this.completions.shift();
  }

  /** Removes a waiting request (its client went away); true when it was waiting. */
  withdraw(ticket: T): boolean {
    return this.queue.remove(ticket.id);
  }

  /** The requests that waited past the queue timeout, removed, each with its error. */
  expire(): { ticket: T; error: BulwarkError }[] {
    return this.queue.expire(this.now()).map((ticket) => ({
      ticket,
      error: new BulwarkError(
        "queue_timeout",
        `The request waited longer than ${this.settings.queueTimeoutMs} ms for model ${this.settings.model}.`,
        { retryAfterSeconds: this.retryAfter() },
      ),
    }));
  }

  /** Empties the queue (shutdown, or a load refused for memory); returns what was waiting. */
  drainQueue(): T[] {
    const waiting: T[] = [];
    for (let t = this.queue.shift(); t; t = this.queue.shift()) waiting.push(t);
    return waiting;
  }

  /** Requests waiting or running. */
  inFlight(): number {
    let running = 0;
    for (const n of this.busy.values()) running += n;
    return this.queue.size + running;
  }

  /**
   * The least busy accepting replica for a call that needs no slot (tokenize, embed), other
   * than those in `avoid` (they died under this call), or undefined when none is ready.
   */
  leastBusy(avoid?: ReadonlySet<string>, only?: (replica: R) => boolean): R | undefined {
    const candidates = this.loads(avoid)
      .filter((c) => !only || only(c.r))
      .sort((a, b) => a.busy - b.busy);
    return candidates[0]?.r;
  }

  /** Completions per second over the recent window. */
  completionRate(): number {
    if (this.completions.length < 2) return 0;
    const span = (this.now() - this.completions[0]!) / 1000;
    return span > 0 ? this.completions.length / span : 0;
  }

  private retryAfter(): number {
    return retryAfterSeconds(this.queue.size, this.completionRate());
  }
}
