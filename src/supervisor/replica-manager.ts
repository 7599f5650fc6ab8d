/**
 * Keeps N replicas of one model running: spawns them, watches the exit event, heartbeats and
 * forward progress, and restarts a dead or hung replica with exponential backoff.
 */
import { BulwarkError } from "../errors/index.js";
import type { Logger } from "../observability/index.js";
import type {
  EngineReplica,
  ModelInfo,
  ReplicaFactory,
  ReplicaSpec,
  ReplicaStatus,
} from "../engine/index.js";
import { backoffDelayMs, watchdogVerdict } from "./health-policy.js";

/** Whether a worker of `spec` would be admitted once one holding `freedBytes` stops. */
export type ReplacementCheck = (spec: ReplicaSpec, freedBytes: number) => Promise<boolean>;

/** How long a worker being replaced by a new spec may take to finish its running requests. */
const RENEW_DRAIN_MS = 5 * 60_000;

export interface SupervisionSettings {
  heartbeatTimeoutMs: number;
  progressTimeoutMs: number;
  restartBackoffMs: number;
  restartBackoffMaxMs: number;
  stableAfterMs: number;
  /** How often the watchdog looks at the workers, in ms. */
  watchdogIntervalMs: number;
}

export interface ReplicaEvents {
  ready(replica: EngineReplica): void;
  /** The replica stopped serving (crash, kill, or stop); its jobs already got their errors. */
  gone(replica: EngineReplica, reason: string): void;
  /** A dead replica is about to be restarted (for the restart counter). */
  restarting?(replica: EngineReplica, reason: string): void;
  /** A load asked for by a request was refused for memory; the position is unloaded again. */
  loadRefused?(error: BulwarkError): void;
  /** The replica grow() added was refused for memory; its position is gone again. */
  growRefused?(error: BulwarkError): void;
}

/** The replicas as the autoscaler counts them. */
export interface ReplicaCounts {
  /** Positions that serve or load: not unloaded for memory, not being stopped for good. */
  replicas: number;
  /** Of them, those whose replica is still loading. */
  starting: number;
  /** Positions unloaded to free memory. */
  parked: number;
}

/** One position in the replica set; its replica is replaced on every restart. */
interface Position {
  index: number;
  replica: EngineReplica | undefined;
  generation: number;
  failures: number;
  restarts: number;
  startedAt: number;
  lastError: string | undefined;
  restartTimer: NodeJS.Timeout | undefined;
  /** Unloaded on purpose to free memory: not restarted until unparked. */
  parked: boolean;
  /** Unparked for a request: a load refused for memory parks it again instead of retrying. */
  onDemand: boolean;
  /** Why the current replica failed to load: kept over the exit reason that follows. */
  loadError: string | undefined;
  /** The spec epoch its replica was spawned in; older than the manager's means stale. */
  epoch: number;
  /** Stopped to be replaced by a worker of the current spec: respawned at once on exit. */
  renewing: boolean;
  /** Added by grow() and not loaded yet: a load refused for memory removes it. */
  grown: boolean;
  /** Being stopped by shrink(): removed when its replica exits. */
  retiring: boolean;
  /** Taken out of the set: its replica's exit is no longer acted on. */
  removed: boolean;
}

export class ReplicaManager {
  private readonly positions: Position[] = [];
  /** The index of the next position: never reused, so no replica id comes back. */
  private nextIndex = 0;
  private watchdog: NodeJS.Timeout | undefined;
  private stopping = false;
  private readonly log: Logger;
  private firstLoad: Promise<ModelInfo> | undefined;
  private specEpoch = 0;
  /** Asked before a stale worker is stopped: would its replacement be admitted? */
  private replacementFits: ReplacementCheck = async () => true;
  private checkingRenewal = false;

  constructor(
    private readonly baseSpec: Omit<ReplicaSpec, "id">,
    private readonly count: number,
    private readonly factory: ReplicaFactory,
    private readonly settings: SupervisionSettings,
    private readonly events: ReplicaEvents,
    logger: Logger,
  ) {
    this.log = logger.child({ component: "supervisor", model: baseSpec.modelName });
  }

  /** Starts every replica; resolves with the first one's model info, rejects if all fail. */
  start(): Promise<ModelInfo> {
    const loads: Promise<ModelInfo>[] = [];
    for (let i = 0; i < this.count; i++) loads.push(this.spawn(this.addPosition(false)));
    this.watchdog = setInterval(() => this.inspect(), this.settings.watchdogIntervalMs);
    this.watchdog.unref();
    this.firstLoad = Promise.any(loads).catch((err: AggregateError) => {
      throw err.errors[0] ?? err;
    });
    return this.firstLoad;
  }

  private addPosition(grown: boolean): Position {
    const position: Position = {
      index: this.nextIndex++,
      replica: undefined,
      generation: 0,
      failures: 0,
      restarts: 0,
      startedAt: 0,
      lastError: undefined,
      restartTimer: undefined,
      parked: false,
      onDemand: false,
      loadError: undefined,
      epoch: 0,
      renewing: false,
      grown,
      retiring: false,
      removed: false,
    };
    this.positions.push(position);
    return position;
  }

  private removePosition(position: Position): void {
    position.removed = true;
    if (position.restartTimer) clearTimeout(position.restartTimer);
    position.restartTimer = undefined;
    const at = this.positions.indexOf(position);
    if (at !== -1) this.positions.splice(at, 1);
  }

  private spawn(position: Position): Promise<ModelInfo> {
    position.generation++;
    position.loadError = undefined;
    position.epoch = this.specEpoch;
    const id = `${this.baseSpec.modelName}#${position.index}.${position.generation}`;
    const replica = this.factory({ ...this.baseSpec, id });
    position.replica = replica;
    position.startedAt = Date.now();
    replica.onExit((reason) => this.onReplicaExit(position, replica, reason));
    const load = replica.start();
    load.then(
      (info) => {
        position.onDemand = false;
        position.grown = false;
        this.log.info({ replica: id, loadMs: info.loadMs, gpu: info.gpu }, "engine worker ready");
        if (position.replica === replica && replica.state() === "ready") this.events.ready(replica);
      },
      (err: Error) => {
        position.lastError = position.loadError = err.message;
        this.log.error({ replica: id, err: err.message }, "engine worker failed to load");
        const refused = err instanceof BulwarkError && err.code === "model_load_refused_memory";
        if (refused && position.grown && !this.stopping && !position.removed) {
          // A replica added for load that memory admission refused: the set stays as it was.
          this.removePosition(position);
          this.events.growRefused?.(err);
        } else if (refused && position.onDemand && !this.stopping) {
          // Loading on demand does not turn into a retry loop: the position stays unloaded
          // and the next request tries again.
          position.parked = true;
          position.onDemand = false;
          this.events.loadRefused?.(err);
        }
        replica.kill("load failed");
      },
    );
    return load;
  }

  private onReplicaExit(position: Position, replica: EngineReplica, reason: string): void {
    if (position.replica !== replica) return;
    const wasServing = replica.state() !== "stopped";
    this.events.gone(replica, reason);
    if (position.removed) return;
    if (position.retiring) {
      this.removePosition(position);
      return;
    }
    if (position.renewing) {
      position.renewing = false;
      if (!this.stopping && !position.parked) this.spawn(position).catch(() => undefined);
      return;
    }
    if (this.stopping || !wasServing || position.parked) return;
    position.lastError = position.loadError ?? reason;
    this.events.restarting?.(replica, reason);
    const uptime = Date.now() - position.startedAt;
    position.failures = uptime >= this.settings.stableAfterMs ? 1 : position.failures + 1;
    const delay = backoffDelayMs(
      position.failures,
      this.settings.restartBackoffMs,
      this.settings.restartBackoffMaxMs,
    );
    this.log.warn(
      { replica: replica.id, reason, restartInMs: delay, failures: position.failures },
      "engine worker died; restarting",
    );
    position.restartTimer = setTimeout(() => {
      position.restartTimer = undefined;
      if (this.stopping) return;
      position.restarts++;
      this.spawn(position).catch(() => undefined);
    }, delay);
  }

  /**
   * The spec of new workers changed (a degradation rung): replace the running workers, one at
   * a time, each once it is idle and while another replica keeps serving.
   */
  renew(fits: ReplacementCheck): void {
    this.specEpoch++;
    this.replacementFits = fits;
  }

  /**
   * Drains one stale worker when another can serve and its replacement fits in memory (a
   * replacement that would be refused would leave the model a worker short). The draining
   * worker takes no new request and finishes its running ones; its position then respawns.
   */
  private renewOne(): void {
    if (this.stopping || this.checkingRenewal) return;
    const live = this.positions.filter((p) => !p.parked && !p.retiring && p.replica);
    if (live.some((p) => p.renewing || p.replica!.state() === "starting")) return;
    const ready = live.filter((p) => p.replica!.state() === "ready");
    const stale = ready.find((p) => p.epoch < this.specEpoch);
    if (!stale || ready.length < 2) return;
    const replica = stale.replica!;
    const epoch = this.specEpoch;
    this.checkingRenewal = true;
    this.replacementFits({ ...this.baseSpec, id: replica.id }, replica.stats().rssBytes)
      .catch(() => false)
      .then((fits) => {
        this.checkingRenewal = false;
        const unchanged = stale.replica === replica && replica.state() === "ready";
        if (this.stopping || !unchanged) return;
        if (!fits) {
          // Checked again on the next spec change, or when pressure has moved the ladder.
          stale.epoch = epoch;
          this.log.warn(
            { replica: replica.id },
            "keeping a worker of the old spec: its replacement would not fit in memory",
          );
          return;
        }
        stale.renewing = true;
        this.log.info({ replica: replica.id }, "replacing a worker with the current spec");
        void replica.stop(RENEW_DRAIN_MS);
      });
  }

  /** The watchdog: kills a worker that stopped heart-beating or stopped producing tokens. */
  private inspect(): void {
    this.renewOne();
    const now = Date.now();
    for (const position of this.positions) {
      const replica = position.replica;
      if (!replica || replica.state() !== "ready") continue;
      const verdict = watchdogVerdict(
        {
          lastHeartbeatAt: replica.lastHeartbeatAt(),
          lastProgressAt: replica.lastProgressAt(),
          activeJobs: replica.activeJobs(),
        },
        now,
        this.settings,
      );
      if (verdict === "silent") replica.kill("no heartbeat");
      else if (verdict === "hung") replica.kill("busy without producing a token (hung)");
    }
  }

  replicas(): EngineReplica[] {
    return this.positions.flatMap((p) => (p.replica ? [p.replica] : []));
  }

  status(): ReplicaStatus[] {
    return this.positions.map((p) => {
      const r = p.replica;
      const stats = r?.stats();
      return {
        id: r?.id ?? `${this.baseSpec.modelName}#${p.index}`,
        state: p.parked ? "unloaded" : (r?.state() ?? "stopped"),
        pid: stats?.pid ?? null,
        busySlots: stats?.busySlots ?? 0,
        slots: r?.slots ?? this.baseSpec.slots,
        restarts: p.restarts,
        rssBytes: stats?.rssBytes ?? 0,
        loadMs: r?.info()?.loadMs ?? null,
        lastError: p.lastError ?? null,
      };
    });
  }

  /** The replicas as the autoscaler counts them. */
  counts(): ReplicaCounts {
    const counted = this.positions.filter((p) => !p.parked && !p.retiring);
    return {
      replicas: counted.length,
      starting: counted.filter((p) => p.replica?.state() === "starting").length,
      parked: this.positions.filter((p) => p.parked).length,
    };
  }

  /**
   * Adds one replica (the autoscaler's "up"); returns its id. Its load passes memory admission
   * like any other: refused, the position is removed again and `growRefused` says why.
   */
  grow(): string | undefined {
    if (this.stopping) return undefined;
    const position = this.addPosition(true);
    position.epoch = this.specEpoch;
    this.spawn(position).catch(() => undefined);
    return position.replica?.id;
  }

  /**
   * Stops one replica for good (the autoscaler's "down"); returns its id. A position waiting to
   * restart goes first (it serves nothing); else the ready replica with the fewest running
   * requests, which drains them (taking no new one) before it stops.
   */
  shrink(drainMs: number): string | undefined {
    if (this.stopping) return undefined;
    const candidates = this.positions.filter((p) => !p.parked && !p.retiring && !p.renewing);
    const waiting = candidates.find((p) => p.restartTimer !== undefined);
    if (waiting) {
      const id = waiting.replica?.id ?? `${this.baseSpec.modelName}#${waiting.index}`;
      this.removePosition(waiting);
      return id;
    }
    const ready = candidates
      .filter((p) => p.replica?.state() === "ready")
      .sort((a, b) => a.replica!.activeJobs() - b.replica!.activeJobs() || b.index - a.index);
    const chosen = ready[0];
    if (!chosen || ready.length < 2) return undefined;
    chosen.retiring = true;
    void chosen.replica!.stop(drainMs);
    return chosen.replica!.id;
  }

  /**
   * Unloads idle replicas to free memory, keeping at least `keep` ready ones: each chosen one
   * (no running job) is stopped and not restarted until unpark(). Returns the ids unloaded.
   */
  park(keep: number): string[] {
    const ready = this.positions.filter(
      (p) => !p.parked && !p.retiring && p.replica?.state() === "ready",
    );
    const idle = ready.filter((p) => p.replica!.activeJobs() === 0);
    const parked: string[] = [];
    for (const p of idle) {
      if (ready.length - parked.length <= keep) break;
      p.parked = true;
      parked.push(p.replica!.id);
      void p.replica!.stop(0);
    }
    if (parked.length > 0)
      this.log.warn({ replicas: parked }, "unloaded idle replicas to free memory");
    return parked;
  }

  /**
   * Unloads every replica (the whole model) when none is running a job or loading; returns the
   * ids stopped, or undefined when something is busy and nothing was changed.
   */
  parkAll(): string[] | undefined {
    if (this.stopping || this.positions.length === 0) return undefined;
    const busy = this.positions.some((p) => {
      if (p.parked || !p.replica) return false;
      const state = p.replica.state();
      if (state === "starting" || state === "draining") return true;
      return state === "ready" && p.replica.activeJobs() > 0;
    });
    if (busy) return undefined;
    const stopped: string[] = [];
    for (const p of this.positions) {
      if (p.parked) continue;
      p.parked = true;
      if (p.restartTimer) clearTimeout(p.restartTimer);
      p.restartTimer = undefined;
      if (p.replica?.state() === "ready") {
        stopped.push(p.replica.id);
        void p.replica.stop(0);
      }
    }
    return stopped;
  }

  /** True when every position is unloaded (the whole model is). */
  allParked(): boolean {
    return this.positions.length > 0 && this.positions.every((p) => p.parked);
  }

  /**
   * Loads again every replica park() unloaded. `onDemand`: a request is waiting for it, and a
   * refusal for memory parks the position again instead of retrying with backoff.
   */
  unpark(onDemand = false): void {
    for (const p of this.positions) {
      if (!p.parked || this.stopping) continue;
      p.parked = false;
      p.onDemand = onDemand;
      this.log.info({ position: p.index, onDemand }, "reloading an unloaded replica");
      this.spawn(p).catch(() => undefined);
    }
  }

  /** Kills one replica by id (it restarts with backoff, like a crash); false if not found. */
  kill(id: string, reason: string): boolean {
    const replica = this.replicas().find((r) => r.id === id);
    if (!replica) return false;
    replica.kill(reason);
    return true;
  }

  /** Stops every replica: running jobs get up to `deadlineMs` to finish. */
  async stop(deadlineMs: number): Promise<void> {
    this.stopping = true;
    if (this.watchdog) clearInterval(this.watchdog);
    for (const p of this.positions) if (p.restartTimer) clearTimeout(p.restartTimer);
    await Promise.all(this.replicas().map((r) => r.stop(deadlineMs)));
  }
}
