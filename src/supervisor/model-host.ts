/**
 * One served model: its replicas (kept alive by a ReplicaManager), its admission queue, and the
 * dispatch of requests to free slots. A request whose worker dies before anything reached the
 * client is re-queued and completes elsewhere; one that two workers died running is refused.
 */
import { BulwarkError, toClientError } from "../errors/index.js";
import type { Logger } from "../observability/index.js";
import {
  ReplicaLostError,
  type EmbeddingResult,
  type EngineReplica,
  type GenerationStream,
  type GenerationJob,
  type GenerationListener,
  type ModelInfo,
  type ModelStatus,
  type PreparedPrompt,
  type PromptInput,
  type ReplicaFactory,
  type ReplicaSpec,
  type ServedModel,
  type StreamEvent,
} from "../engine/index.js";
import {
  AdmissionQueue,
  QueueFullError,
  pickReplica,
  retryAfterSeconds,
} from "../scheduler/index.js";
import { EventChannel } from "./event-channel.js";
import {
  ReplicaManager,
  type ReplacementCheck,
  type SupervisionSettings,
} from "./replica-manager.js";

/** Receives the supervisor's figures for metrics; supplied by main.ts, optional. */
export interface HostObserver {
  /** A request left the queue for a slot after waiting this long. */
  queueTime?(model: string, seconds: number): void;
  /** A replica finished loading. */
  loaded?(model: string, seconds: number): void;
  /** A dead replica is being restarted. */
  restarted?(model: string, reason: string): void;
}

export interface SchedulerSettings {
  queueLimit: number;
  queueTimeoutMs: number;
}

class Ticket {
  readonly channel = new EventChannel<StreamEvent>();
  committed = false;
  cancelled = false;
  losses = 0;
  replica: EngineReplica | undefined;
  readonly createdAt = performance.now();

  constructor(
    readonly job: GenerationJob,
    readonly priority: number,
  ) {}

  get id(): string {
    return this.job.id;
  }
}

const RATE_WINDOW = 64;

export class ModelHost implements ServedModel {
  readonly created = Math.floor(Date.now() / 1000);
  private readonly manager: ReplicaManager;
  private readonly queue: AdmissionQueue<Ticket>;
  private readonly busy = new Map<string, number>();
  private readonly ready: EngineReplica[] = [];
  private readyWaiters: (() => void)[] = [];
  private readonly completions: number[] = [];
  private readonly timer: NodeJS.Timeout;
  private closing = false;
  private modelInfo: ModelInfo | undefined;
  /** Slot-free calls (tokenize, embed) running now. */
  private calls = 0;
  private lastUsedAt = Date.now();
  /** Why the last load asked for by a request was refused, while the model stays unloaded. */
  private loadRefusal: BulwarkError | undefined;
  private readonly log: Logger;

  constructor(
    readonly name: string,
    spec: Omit<ReplicaSpec, "id">,
    replicas: number,
    factory: ReplicaFactory,
    supervision: SupervisionSettings,
    private readonly scheduler: SchedulerSettings,
    logger: Logger,
    private readonly observer: HostObserver = {},
  ) {
    this.log = logger.child({ component: "model", model: name });
    this.queue = new AdmissionQueue(scheduler.queueLimit, scheduler.queueTimeoutMs);
    this.manager = new ReplicaManager(
      spec,
      replicas,
      factory,
      supervision,
      {
        ready: (r) => this.onReady(r),
        gone: (r) => this.onGone(r),
        restarting: (_r, reason) => this.observer.restarted?.(name, reason),
        loadRefused: (err) => this.onLoadRefused(err),
      },
      logger,
    );
    this.timer = setInterval(() => this.expireQueue(), Math.min(250, scheduler.queueTimeoutMs));
    this.timer.unref();
  }

  /** True once close() has begun: the host takes no new work. */
  get isClosing(): boolean {
    return this.closing;
  }

  /** Starts the replicas; resolves once one is ready. */
  start(): Promise<ModelInfo> {
    return this.manager.start();
  }

  info(): ModelInfo | undefined {
    return this.modelInfo;
  }

  isReady(): boolean {
    return this.ready.length > 0;
  }

  isUnloaded(): boolean {
    return this.manager.allParked();
  }

  status(): ModelStatus {
    const replicas = this.manager.status();
    return {
      name: this.name,
      ready: this.isReady(),
      loadMs: this.modelInfo?.loadMs ?? null,
      gpu: this.modelInfo?.gpu ?? null,
      threads: this.modelInfo?.threads ?? null,
      chatFormat: this.modelInfo?.chatFormat ?? null,
      contextSize: this.modelInfo?.contextSize ?? null,
      unloaded: this.isUnloaded(),
      replicas,
      slots: {
        busy: replicas.reduce((n, r) => n + r.busySlots, 0),
        total: replicas.reduce((n, r) => n + (r.state === "ready" ? r.slots : 0), 0),
      },
      queue: { waiting: this.queue.size, limit: this.scheduler.queueLimit },
    };
  }

  private onReady(replica: EngineReplica): void {
    this.modelInfo ??= replica.info();
    const loadMs = replica.info()?.loadMs;
    if (loadMs !== undefined) this.observer.loaded?.(this.name, loadMs / 1000);
    this.ready.push(replica);
    this.busy.set(replica.id, 0);
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const wake of waiters) wake();
    this.pump();
  }

  private onGone(replica: EngineReplica): void {
    const index = this.ready.indexOf(replica);
    if (index !== -1) this.ready.splice(index, 1);
    this.busy.delete(replica.id);
    this.pump();
  }

  private loads() {
    return this.ready
      .filter((r) => r.state() === "ready")
      .map((r) => ({ id: r.id, ready: true, slots: r.slots, busy: this.busy.get(r.id) ?? 0, r }));
  }

  generate(job: GenerationJob, options: { priority?: number } = {}): GenerationStream {
    if (this.closing) throw new BulwarkError("shutting_down", undefined, { retryAfterSeconds: 5 });
    this.wake();
    const ticket = new Ticket(job, options.priority ?? 0);
    const free = this.queue.size === 0 ? pickReplica(this.loads()) : undefined;
    if (free) {
      this.dispatch(ticket, free.r);
    } else {
      try {
        this.queue.push(ticket, Date.now());
      } catch (err) {
        if (!(err instanceof QueueFullError)) throw err;
        throw new BulwarkError(
          "queue_full",
          `The queue of model ${this.name} is full (${err.limit} waiting). Retry later.`,
          { retryAfterSeconds: retryAfterSeconds(this.queue.size, this.completionRate()) },
        );
      }
    }
    return {
      [Symbol.asyncIterator]: () => ticket.channel[Symbol.asyncIterator](),
      commit: () => {
        ticket.committed = true;
      },
      cancel: () => this.cancel(ticket),
    };
  }

  private dispatch(ticket: Ticket, replica: EngineReplica): void {
    this.observer.queueTime?.(this.name, (performance.now() - ticket.createdAt) / 1000);
    ticket.replica = replica;
    this.busy.set(replica.id, (this.busy.get(replica.id) ?? 0) + 1);
    const release = () => {
      if (ticket.replica !== replica) return;
      ticket.replica = undefined;
      const n = this.busy.get(replica.id);
      if (n !== undefined) this.busy.set(replica.id, Math.max(0, n - 1));
    };
    const listener: GenerationListener = {
      onEvent: (event) => {
        if (event.type === "done") {
          release();
          this.recordCompletion();
          ticket.channel.push(event);
          ticket.channel.close();
          this.pump();
        } else if (!ticket.cancelled) {
          ticket.channel.push(event);
        }
      },
      onError: (err) => {
        release();
        this.onJobError(ticket, err);
        this.pump();
      },
    };
    replica.generate(ticket.job, listener);
  }

  private onJobError(ticket: Ticket, err: Error): void {
    if (ticket.cancelled) {
      ticket.channel.close();
      return;
    }
    if (!(err instanceof ReplicaLostError)) {
      ticket.channel.fail(toClientError(err));
      return;
    }
    if (this.closing) {
      // Past the drain deadline the workers are stopped on purpose: nowhere to re-queue to.
      ticket.channel.fail(new BulwarkError("shutting_down"));
      return;
    }
    ticket.losses++;
    if (ticket.committed) {
      this.log.warn({ requestId: ticket.id, err: err.message }, "worker died while streaming");
      ticket.channel.fail(new BulwarkError("engine_failure"));
    } else if (ticket.losses >= 2) {
      this.log.error(
        { requestId: ticket.id, err: err.message },
        "refusing request: a second engine worker died while running it (possible query of death)",
      );
      ticket.channel.fail(new BulwarkError("request_crashed_workers"));
    } else {
      this.log.warn({ requestId: ticket.id, err: err.message }, "worker died; re-queueing request");
      ticket.channel.reset({ type: "restart" });
      this.queue.requeue(ticket, Date.now());
    }
  }

  private cancel(ticket: Ticket): void {
    if (ticket.cancelled || ticket.channel.closed) return;
    ticket.cancelled = true;
    if (this.queue.remove(ticket.id)) {
      ticket.channel.close();
    } else {
      ticket.replica?.abort(ticket.job.id);
    }
  }

  private pump(): void {
    while (this.queue.size > 0) {
      const free = pickReplica(this.loads());
      if (!free) return;
      const ticket = this.queue.shift()!;
      this.dispatch(ticket, free.r);
    }
  }

  private expireQueue(): void {
    for (const ticket of this.queue.expire(Date.now())) {
      ticket.channel.fail(
        new BulwarkError(
          "queue_timeout",
          `The request waited longer than ${this.scheduler.queueTimeoutMs} ms for model ${this.name}.`,
          { retryAfterSeconds: retryAfterSeconds(this.queue.size, this.completionRate()) },
        ),
      );
    }
  }

  private recordCompletion(): void {
    this.lastUsedAt = Date.now();
    this.completions.push(this.lastUsedAt);
    if (this.completions.length > RATE_WINDOW) this.completions.shift();
  }

  /** Completions per second over the recent window. */
  private completionRate(): number {
    if (this.completions.length < 2) return 0;
    const span = (Date.now() - this.completions[0]!) / 1000;
    return span > 0 ? this.completions.length / span : 0;
  }

  /** A ready replica for a call that needs no slot, waiting for one up to the queue timeout. */
  private async anyReplica(): Promise<EngineReplica> {
    const deadline = Date.now() + this.scheduler.queueTimeoutMs;
    for (;;) {
      if (this.closing) throw new BulwarkError("shutting_down");
      if (this.loadRefusal && this.isUnloaded()) throw this.loadRefusal;
      const candidates = this.loads().sort((a, b) => a.busy - b.busy);
      if (candidates[0]) return candidates[0].r;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new BulwarkError("model_not_ready", `Model ${this.name} has no ready worker.`, {
          retryAfterSeconds: 5,
        });
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.readyWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Runs a slot-free call on some replica, moving to another if the worker dies under it. */
  private async onAnyReplica<T>(call: (r: EngineReplica) => Promise<T>): Promise<T> {
    this.wake();
    this.calls++;
    try {
      let lastError: unknown;
      for (let attempt = 0; attempt < 2; attempt++) {
        const replica = await this.anyReplica();
        try {
          return await call(replica);
        } catch (err) {
          if (!(err instanceof ReplicaLostError)) throw toClientError(err);
          lastError = err;
        }
      }
      this.log.error({ err: (lastError as Error).message }, "two workers died during one call");
      throw new BulwarkError("request_crashed_workers");
    } finally {
      this.calls--;
      this.lastUsedAt = Date.now();
    }
  }

  prepare(input: PromptInput): Promise<PreparedPrompt> {
    return this.onAnyReplica((r) => r.prepare(input));
  }

  embed(inputs: PromptInput[]): Promise<EmbeddingResult> {
    return this.onAnyReplica((r) => r.embed(inputs));
  }

  detokenize(tokens: number[]): Promise<string> {
    return this.onAnyReplica((r) => r.detokenize(tokens));
  }

  /** Unloads idle replicas beyond `keep` ready ones (memory reclaim); returns their ids. */
  unloadIdle(keep: number): string[] {
    return this.manager.park(keep);
  }

  /** When the model has no request running, queued or being tokenized: since when (epoch ms). */
  idleSince(): number | undefined {
    if (this.closing || this.queue.size > 0 || this.calls > 0) return undefined;
    for (const n of this.busy.values()) if (n > 0) return undefined;
    return this.lastUsedAt;
  }

  /**
   * Unloads the whole model to free memory when it is idle; its next request loads it again.
   * Returns the replica ids stopped, or undefined when it is busy or already unloaded.
   */
  unloadModel(): string[] | undefined {
    if (this.isUnloaded() || this.idleSince() === undefined) return undefined;
    const stopped = this.manager.parkAll();
    if (stopped) {
      this.log.warn(
        { replicas: stopped },
        "unloaded the idle model to free memory; its next request loads it again",
      );
    }
    return stopped;
  }

  /** A request for a model unloaded whole: load it again (the request waits in the queue). */
  private wake(): void {
    this.lastUsedAt = Date.now();
    if (!this.isUnloaded() || this.closing) return;
    this.loadRefusal = undefined;
    this.log.info("loading the unloaded model for a request");
    this.manager.unpark(true);
  }

  /** The load a request asked for was refused for memory: the requests waiting get why. */
  private onLoadRefused(err: BulwarkError): void {
    if (!this.isUnloaded()) return;
    this.loadRefusal = err;
    for (let t = this.queue.shift(); t; t = this.queue.shift()) t.channel.fail(err);
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const wake of waiters) wake();
  }

  /**
   * Loads again the replicas unloadIdle() stopped (memory pressure is over). A model unloaded
   * whole stays so until a request needs it.
   */
  reloadUnloaded(): void {
    if (!this.isUnloaded()) this.manager.unpark();
  }

  /**
   * New workers get a different spec (a degradation rung moved): replaces the running ones one
   * at a time, each drained first, while another replica serves and when the replacement fits
   * in memory (`fits`). A model with one replica keeps its worker until it restarts or reloads.
   */
  renewWorkers(fits: ReplacementCheck): void {
    this.manager.renew(fits);
  }

  /** Kills one worker to free its memory; its requests re-queue like after a crash. */
  killReplica(id: string, reason: string): boolean {
    return this.manager.kill(id, reason);
  }

  /**
   * Drains: refuses new requests, lets queued and running ones finish until the deadline,
   * then stops the workers. Requests still waiting at the deadline get shutting_down.
   */
  async close(deadlineMs: number): Promise<void> {
    this.closing = true;
    const deadline = Date.now() + deadlineMs;
    const inFlight = () => this.queue.size + [...this.busy.values()].reduce((a, b) => a + b, 0);
    while (inFlight() > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    for (let t = this.queue.shift(); t; t = this.queue.shift()) {
      t.channel.fail(new BulwarkError("shutting_down"));
    }
    clearInterval(this.timer);
    await this.manager.stop(Math.max(0, deadline - Date.now()));
  }
}
