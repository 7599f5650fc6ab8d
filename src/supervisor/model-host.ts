/**
 * One served model run by local workers: the engine-client port (ServedModel) over a
 * ReplicaManager, which keeps the worker processes alive, and the scheduler's Dispatcher,
 * which decides where each request runs. The host drives both: it runs a dispatched job on its
 * replica, feeds its events to the request's stream, and applies the scheduler's verdict when a
 * worker dies under a request.
 */
import { BulwarkError, toClientError } from "../errors/index.js";
import type { Logger, ModelObserver } from "../observability/index.js";
import {
  ReplicaLostError,
  type EmbeddingResult,
  type EngineReplica,
  type GenerationEvent,
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
} from "../engine/index.js";
import type { RemoteBackends } from "../engine/remote/index.js";
import {
  Dispatcher,
  MAX_WORKER_LOSSES,
  Ticket,
  continuation,
  endOfSentStream,
  lossVerdict,
  makeRouter,
  promptPrefix,
  type RoutingPolicy,
} from "../scheduler/index.js";
import {
  ReplicaManager,
  type ReplacementCheck,
  type SupervisionSettings,
} from "./replica-manager.js";
import { Autoscaler } from "./autoscaler.js";
import type { AutoscaleSettings, ReplicaRange } from "../config/index.js";

/** Receives the supervisor's figures for metrics (declared in observability); each optional. */
export type HostObserver = Partial<ModelObserver>;

export interface SchedulerSettings {
  queueLimit: number;
  queueTimeoutMs: number;
  /** Share of the slots batch lines may hold (batch.slotShare); default 1. */
  backgroundSlotShare?: number;
  /** When batch lines give way to interactive requests (batch.yieldTo). */
  backgroundYieldsTo?: "waiting" | "running";
}

/** Replicas between `min` and `max`, grown and shrunk by the autoscale policy. */
export interface AutoscaledReplicas extends ReplicaRange {
  autoscale: AutoscaleSettings;
}

/** Where else the model runs, and how its requests are spread. */
export interface ServingOptions {
  /** Remote OpenAI-compatible backends serving the model too (or alone: no local replica). */
  backends?: RemoteBackends;
  routing?: RoutingPolicy;
}

export class ModelHost implements ServedModel {
  readonly created = Math.floor(Date.now() / 1000);
  private readonly manager: ReplicaManager;
  private readonly dispatcher: Dispatcher<Ticket, EngineReplica>;
  private readyWaiters: (() => void)[] = [];
  private readonly timer: NodeJS.Timeout;
  private closing = false;
  private modelInfo: ModelInfo | undefined;
  /** Slot-free calls (tokenize, embed) running now. */
  private calls = 0;
  private lastUsedAt = Date.now();
  /** Why the last load asked for by a request was refused, while the model stays unloaded. */
  private loadRefusal: BulwarkError | undefined;
  private readonly log: Logger;
  private readonly autoscaler: Autoscaler | undefined;
  /** The model's info came from a remote backend (a local replica's replaces it). */
  private infoFromRemote = false;
  /** Local workers serve the model (else only remote backends do). */
  private readonly hasLocal: boolean;

  /** `replicas`: a fixed count, or a range the autoscaler moves within. */
  constructor(
    readonly name: string,
    spec: Omit<ReplicaSpec, "id">,
    replicas: number | AutoscaledReplicas,
    factory: ReplicaFactory,
    supervision: SupervisionSettings,
    private readonly scheduler: SchedulerSettings,
    logger: Logger,
    private readonly observer: HostObserver = {},
    private readonly serving: ServingOptions = {},
  ) {
    this.log = logger.child({ component: "model", model: name });
    // A prompt prepared by a remote backend (no token ids here) runs only on a remote one.
    this.dispatcher = new Dispatcher(
      { model: name, ...scheduler },
      () => Date.now(),
      (r, t) =>
        r.state() === "ready" &&
        (r.remote === true || t === undefined || t.job.prompt.estimatedTokens === undefined),
      makeRouter(serving.routing ?? "least-outstanding", () => Date.now()),
    );
    const range = typeof replicas === "number" ? undefined : replicas;
    this.hasLocal = (range?.max ?? (replicas as number)) > 0;
    this.manager = new ReplicaManager(
      spec,
      range?.min ?? (replicas as number),
      factory,
      supervision,
      {
        ready: (r) => this.onReady(r),
        gone: (r) => this.onGone(r),
        restarting: (_r, reason) => this.observer.restarted?.(name, reason),
        loadRefused: (err) => this.onLoadRefused(err),
        growRefused: (err) => this.autoscaler?.refused(err),
      },
      logger,
    );
    if (range && range.max > range.min) {
      this.autoscaler = new Autoscaler({
        model: name,
        range,
        settings: range.autoscale,
        replicas: this.manager,
        load: () => ({
          waiting: this.dispatcher.waitingInteractive,
          busySlots: this.manager.status().reduce((n, r) => n + r.busySlots, 0),
        }),
        slotsPerReplica: spec.slots,
        active: () => !this.closing && !this.isUnloaded(),
        logger,
        decided: (model, action) => this.observer.autoscaled?.(model, action),
      });
    }
    this.timer = setInterval(() => this.expireQueue(), Math.min(250, scheduler.queueTimeoutMs));
    this.timer.unref();
  }

  /** True once close() has begun: the host takes no new work. */
  get isClosing(): boolean {
    return this.closing;
  }

  /** Starts the replicas and the backends' health checks; resolves once one is ready. */
  start(): Promise<ModelInfo> {
    const starts: Promise<ModelInfo>[] = [];
    if (this.hasLocal || !this.serving.backends) starts.push(this.manager.start());
    const backends = this.serving.backends;
    if (backends) {
      starts.push(
        new Promise<ModelInfo>((resolve) => {
          backends.start({
            ready: (r) => {
              this.onReady(r);
              resolve(r.info()!);
            },
            gone: (r) => this.onGone(r),
          });
        }),
      );
    }
    this.autoscaler?.start();
    return Promise.any(starts).catch((err: AggregateError) => {
      throw err.errors[0] ?? err;
    });
  }

  info(): ModelInfo | undefined {
    return this.modelInfo;
  }

  isReady(): boolean {
    return this.dispatcher.hasReplica();
  }

  isUnloaded(): boolean {
    return this.manager.allParked();
  }

  status(): ModelStatus {
    const replicas = this.manager.status();
    const backends = this.serving.backends?.status();
    const remoteBusy = backends?.reduce((n, b) => n + b.inFlight, 0) ?? 0;
    const remoteSlots =
      backends?.reduce((n, b) => n + (b.state === "healthy" ? b.slots : 0), 0) ?? 0;
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
      ...(backends ? { backends } : {}),
      slots: {
        busy: replicas.reduce((n, r) => n + r.busySlots, remoteBusy),
        total: replicas.reduce((n, r) => n + (r.state === "ready" ? r.slots : 0), remoteSlots),
      },
      queue: { waiting: this.dispatcher.waiting, limit: this.scheduler.queueLimit },
      ...(this.autoscaler ? { autoscale: this.autoscaler.status() } : {}),
    };
  }

  private onReady(replica: EngineReplica): void {
    if (!this.modelInfo || (this.infoFromRemote && !replica.remote)) {
      this.modelInfo = replica.info();
      this.infoFromRemote = replica.remote === true;
    }
    const loadMs = replica.info()?.loadMs;
    if (loadMs !== undefined && !replica.remote) this.observer.loaded?.(this.name, loadMs / 1000);
    this.dispatcher.addReplica(replica);
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const wake of waiters) wake();
    this.pump();
  }

  private onGone(replica: EngineReplica): void {
    this.dispatcher.removeReplica(replica);
    this.pump();
  }

  generate(job: GenerationJob, options: { priority?: number } = {}): GenerationStream {
    if (this.closing) throw new BulwarkError("shutting_down", undefined, { retryAfterSeconds: 5 });
    this.wake();
    const ticket = new Ticket(job, options.priority ?? 0, performance.now());
    if (this.serving.routing === "prefix-affinity") ticket.prefix = promptPrefix(job.prompt);
    const replica = this.dispatcher.submit(ticket);
    if (replica) this.run(ticket, replica);
    this.preempt();
    return {
      [Symbol.asyncIterator]: () => ticket.channel[Symbol.asyncIterator](),
      commit: () => {
        ticket.committed = true;
      },
      cancel: () => this.cancel(ticket),
    };
  }

  /** Runs a dispatched request on its replica and feeds the events to its stream. */
  private run(ticket: Ticket, replica: EngineReplica): void {
    const waitedMs = performance.now() - ticket.createdAt;
    this.observer.queueTime?.(this.name, waitedMs / 1000);
    // Batch lines (the background lane) wait by design: they never grow a model.
    if (ticket.priority >= 0) this.autoscaler?.queueWait(waitedMs);
    const listener: GenerationListener = {
      onEvent: (event) => {
        if (event.type === "done" && this.dispatcher.isYielding(ticket)) {
          this.dispatcher.release(ticket, replica);
          this.afterYield(ticket, event);
          this.pump();
        } else if (event.type === "done") {
          this.dispatcher.release(ticket, replica);
          this.dispatcher.completed();
          this.lastUsedAt = Date.now();
          ticket.channel.push(event);
          ticket.channel.close();
          this.pump();
        } else if (!ticket.cancelled) {
          if (event.type === "text") ticket.track(event);
          ticket.channel.push(event);
        }
      },
      onError: (err) => {
        this.dispatcher.release(ticket, replica);
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
    ticket.avoid.add(err.replicaId);
    if (err.decoding) ticket.losses++;
    const log = { requestId: ticket.id, err: err.message, decoding: err.decoding };
    switch (lossVerdict(ticket, this.closing)) {
      case "drop":
        ticket.channel.close();
        return;
      case "shutting_down":
        // Past the drain deadline the workers are stopped on purpose: nowhere to re-queue to.
        ticket.channel.fail(new BulwarkError("shutting_down"));
        return;
      case "fail_stream":
        this.log.warn(log, "worker died while streaming");
        ticket.channel.fail(new BulwarkError("engine_failure"));
        return;
      case "refuse":
        this.log.error(
          log,
          "refusing request: a second engine worker died while decoding it (possible query of death)",
        );
        ticket.channel.fail(new BulwarkError("request_crashed_workers"));
        return;
      case "requeue":
        this.log.warn(log, "worker died; re-queueing request");
        ticket.restart();
        ticket.channel.reset({ type: "restart" });
        this.dispatcher.requeue(ticket);
        return;
      case "resume":
        this.resume(ticket, log);
        return;
    }
  }

  /** Continues a begun stream on another worker from the tokens it has sent. */
  private resume(ticket: Ticket, log: Record<string, unknown>): void {
    const sent = ticket.progress.tokens.length;
    const next = continuation(ticket.original, ticket.progress);
    if (!next) {
      // Every token was sent before the worker could say it was done.
      for (const event of endOfSentStream(ticket.original, ticket.progress)) {
        ticket.channel.push(event);
      }
      ticket.channel.close();
      this.dispatcher.completed();
      return;
    }
    this.log.warn({ ...log, sentTokens: sent }, "worker died while streaming; resuming the stream");
    ticket.job = next;
    this.dispatcher.requeue(ticket);
  }

  /**
   * Asks running batch lines for their slots while interactive requests wait: each stops at its
   * next token (an abort), and its continuation goes back to the queue (afterYield).
   */
  private preempt(): void {
    for (const ticket of this.dispatcher.preemptions()) {
      this.dispatcher.replicaOf(ticket)?.abort(ticket.job.id);
    }
  }

  /**
   * A batch line gave its slot up: it goes back to the queue as the continuation of what it
   * has generated (as a stream resumes after a worker death), so no token is generated twice.
   * One that finished before the abort arrived just ends.
   */
  private afterYield(ticket: Ticket, done: Extract<GenerationEvent, { type: "done" }>): void {
    const next =
      done.finishReason === "abort" && !ticket.cancelled
        ? continuation(ticket.original, ticket.progress)
        : undefined;
    if (!next) {
      this.dispatcher.completed();
      if (!ticket.cancelled || done.finishReason !== "abort") ticket.channel.push(done);
      ticket.channel.close();
      return;
    }
    this.log.debug(
      { requestId: ticket.id, generatedTokens: ticket.progress.tokens.length },
      "batch line gave its slot to an interactive request",
    );
    this.observer.preempted?.(this.name);
    ticket.job = next;
    this.dispatcher.requeue(ticket);
  }

  private cancel(ticket: Ticket): void {
    if (ticket.cancelled || ticket.channel.closed) return;
    ticket.cancelled = true;
    if (this.dispatcher.withdraw(ticket)) {
      ticket.channel.close();
    } else {
      this.dispatcher.replicaOf(ticket)?.abort(ticket.job.id);
    }
  }

  /** Starts waiting requests while a replica has a free slot. */
  private pump(): void {
    for (let next = this.dispatcher.next(); next; next = this.dispatcher.next()) {
      this.run(next.ticket, next.replica);
    }
    this.preempt();
  }

  private expireQueue(): void {
    for (const { ticket, error } of this.dispatcher.expire()) ticket.channel.fail(error);
  }

  /**
   * A ready replica for a call that needs no slot, other than those it died on, waiting for one
   * until `deadline` (epoch ms).
   */
  private async anyReplica(
    avoid: ReadonlySet<string>,
    deadline: number,
    only?: (r: EngineReplica) => boolean,
  ): Promise<EngineReplica> {
    for (;;) {
      if (this.closing) throw new BulwarkError("shutting_down");
      if (this.loadRefusal && this.isUnloaded()) throw this.loadRefusal;
      const replica = this.dispatcher.leastBusy(avoid, only);
      if (replica) return replica;
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

  /**
   * Runs a slot-free call on some replica, moving to a live one whenever the worker dies under
   * it, until the queue timeout. Only deaths while the worker was evaluating the call (an
   * embedding) make it a suspected query of death: two of them refuse it.
   */
  private async onAnyReplica<T>(call: (r: EngineReplica) => Promise<T>): Promise<T> {
    this.wake();
    this.calls++;
    const deadline = Date.now() + this.scheduler.queueTimeoutMs;
    const avoid = new Set<string>();
    let losses = 0;
    // A local worker tokenizes exactly and embeds: remote backends only when none is ready.
    const localReady = this.manager.replicas().some((r) => r.state() === "ready");
    const only = localReady ? (r: EngineReplica) => !r.remote : undefined;
    try {
      for (;;) {
        const replica = await this.anyReplica(avoid, deadline, only);
        try {
          return await call(replica);
        } catch (err) {
          if (!(err instanceof ReplicaLostError)) throw toClientError(err);
          avoid.add(replica.id);
          if (err.decoding && ++losses >= MAX_WORKER_LOSSES) {
            this.log.error({ err: err.message }, "two workers died during one call");
            throw new BulwarkError("request_crashed_workers");
          }
          this.log.warn({ err: err.message }, "worker died under a call; retrying on another");
        }
      }
    } finally {
      this.calls--;
      this.lastUsedAt = Date.now();
    }
  }

  /** The prompt keeps its input, so that a remote backend can run it too. */
  async prepare(input: PromptInput): Promise<PreparedPrompt> {
    const prepared = await this.onAnyReplica((r) => r.prepare(input));
    return this.serving.backends && !prepared.input ? { ...prepared, input } : prepared;
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
    if (this.closing || this.calls > 0 || this.dispatcher.inFlight() > 0) return undefined;
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
    for (const t of this.dispatcher.drainQueue()) t.channel.fail(err);
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Loads the model now (an operator's reload): unloaded whole, or replicas parked for memory. */
  load(): void {
    if (this.isUnloaded()) this.wake();
    else this.reloadUnloaded();
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
    this.autoscaler?.close();
    const deadline = Date.now() + deadlineMs;
    while (this.dispatcher.inFlight() > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const t of this.dispatcher.drainQueue()) t.channel.fail(new BulwarkError("shutting_down"));
    clearInterval(this.timer);
    const left = Math.max(0, deadline - Date.now());
    await Promise.all([this.manager.stop(left), this.serving.backends?.close(left)]);
  }
}
