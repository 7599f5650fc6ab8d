/**
 * One configured remote backend of a model: its connection, its health (the breaker in
 * src/scheduler/backend-health.ts, fed by every request's outcome and by active checks), and
 * the replica that stands for it while it is in service. A check runs every healthIntervalMs
 * while the backend serves, and once its cooldown is over while it is ejected (the half-open
 * probe); a passing probe brings it back as a new replica.
 */
import type { BackendEntry } from "../../config/index.js";
import type { Logger } from "../../observability/index.js";
import { BackendHealth, type HealthState } from "../../scheduler/index.js";
import type { ModelInfo } from "../types.js";
import { BackendConnection } from "./connection.js";
import { RemoteReplica, type Outcome } from "./replica.js";

/** A backend as /health shows it. */
export interface BackendStatus {
  name: string;
  /** The URL without credentials. */
  url: string;
  state: HealthState;
  /** The last health check's round trip, in ms. */
  latencyMs: number | null;
  inFlight: number;
  slots: number;
  ejections: number;
  lastError: string | null;
}

export interface BackendObserver {
  /** A request ended on the backend. */
  request?(model: string, backend: string, outcome: Outcome): void;
  /** The backend was ejected (circuit opened). */
  ejected?(model: string, backend: string): void;
}

export interface BackendEvents {
  ready(replica: RemoteReplica): void;
  gone(replica: RemoteReplica, reason: string): void;
}

/** Shortest wait between two looks at an ejected backend's cooldown, in ms. */
const MIN_TICK_MS = 50;

export class RemoteBackend {
  readonly name: string;
  private readonly connection: BackendConnection;
  private readonly health: BackendHealth;
  private replica: RemoteReplica | undefined;
  /** Replicas retired by an ejection whose requests may still run. */
  private retired: RemoteReplica[] = [];
  private generation = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastCheckAt = 0;
  private latencyMs: number | null = null;
  private lastError: string | null = null;
  private closed = false;
  private checking = false;
  private readonly log: Logger;

  constructor(
    private readonly modelName: string,
    private readonly entry: BackendEntry,
    private readonly contextSize: number,
    private readonly events: BackendEvents,
    logger: Logger,
    private readonly observer: BackendObserver = {},
  ) {
    this.name = entry.name ?? new URL(entry.url).host;
    this.connection = new BackendConnection(entry);
    this.health = new BackendHealth(
      { failures: entry.failures, cooldownMs: entry.cooldownMs },
      () => Date.now(),
    );
    this.log = logger.child({ component: "backend", model: modelName, backend: this.name });
  }

  start(): void {
    this.schedule(0);
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    if (this.closed) return;
    this.timer = setTimeout(() => void this.tick(), ms);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (this.closed || this.checking) return;
    const probe = this.health.probeDue();
    const due = Date.now() - this.lastCheckAt >= this.entry.healthIntervalMs;
    if (probe || (this.health.serving && due)) await this.check(probe);
    const next = this.health.serving
      ? this.entry.healthIntervalMs
      : this.health.state === "starting"
        ? Math.min(this.entry.healthIntervalMs, 1_000)
        : Math.max(MIN_TICK_MS, this.health.retryInMs());
    this.schedule(next);
  }

  private async check(probe: boolean): Promise<void> {
    this.checking = true;
    this.lastCheckAt = Date.now();
    let ok = false;
    try {
      const timeout = Math.max(1_000, Math.min(this.entry.healthIntervalMs, 10_000));
      this.latencyMs = Math.round(await this.connection.check(timeout));
      ok = true;
    } catch (err) {
      this.lastError = `health check: ${(err as Error).message}`;
    } finally {
      this.checking = false;
    }
    if (this.closed) return;
    if (probe) {
      const was = this.health.state;
      if (this.health.probeResult(ok)) this.admit(was);
      else if (was === "half-open")
        this.log.warn(
          { retryInMs: this.health.retryInMs() },
          "half-open probe failed; backend stays ejected",
        );
    } else if (ok) {
      this.health.success();
    } else if (this.health.failure()) {
      this.eject("health checks failed");
    }
  }

  private admit(was: HealthState): void {
    this.generation++;
    const replica = new RemoteReplica({
      id: `${this.modelName}@${this.name}.${this.generation}`,
      modelName: this.modelName,
      backendModel: this.entry.model ?? this.modelName,
      slots: this.entry.slots,
      info: this.info(),
      connection: this.connection,
      report: (outcome) => this.report(outcome),
    });
    this.replica = replica;
    this.lastError = null;
    this.log.info(
      { replica: replica.id, latencyMs: this.latencyMs },
      was === "starting"
        ? "backend in service"
        : "backend back in service after its half-open probe",
    );
    this.events.ready(replica);
  }

  private info(): ModelInfo {
    const contextSize = this.entry.contextSize ?? this.contextSize;
    return {
      contextSize,
      trainContextSize: contextSize,
      slots: this.entry.slots,
      vocabularySize: 0,
      embeddingSize: 0,
      architecture: "remote",
      chatFormat: "remote",
      bosToken: null,
      eosToken: null,
      loadMs: this.latencyMs ?? 0,
      gpu: "remote",
      threads: 0,
      features: { embeddings: false, promptLogprobs: false, toolCallFormat: null },
    };
  }

  private report(outcome: Outcome): void {
    this.observer.request?.(this.modelName, this.name, outcome);
    if (outcome === "ok") this.health.success();
    else if (outcome === "failure" && this.health.failure()) {
      this.eject(`${this.entry.failures} failures in a row`);
    }
  }

  /** Out of service: no new request; those running go on or fail by themselves. */
  private eject(reason: string): void {
    this.lastError = reason;
    this.observer.ejected?.(this.modelName, this.name);
    this.log.warn({ reason, retryInMs: this.health.retryInMs() }, "backend ejected");
    const replica = this.replica;
    this.replica = undefined;
    if (replica) {
      replica.retire(reason);
      this.retired.push(replica);
      this.events.gone(replica, reason);
    }
    this.schedule(Math.max(MIN_TICK_MS, this.health.retryInMs()));
  }

  /** Requests running on the backend now, on its current replica and on retired ones. */
  inFlight(): number {
    this.retired = this.retired.filter((r) => r.activeJobs() > 0);
    return this.retired.reduce((n, r) => n + r.activeJobs(), this.replica?.activeJobs() ?? 0);
  }

  status(): BackendStatus {
    const url = new URL(this.entry.url);
    url.username = url.password = "";
    return {
      name: this.name,
      url: url.toString().replace(/\/$/, ""),
      state: this.health.state,
      latencyMs: this.latencyMs,
      inFlight: this.inFlight(),
      slots: this.entry.slots,
      ejections: this.health.ejections,
      lastError: this.lastError,
    };
  }

  /** Stops checking; running requests get up to `deadlineMs`, then the pools close. */
  async close(deadlineMs: number): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    const replica = this.replica;
    this.replica = undefined;
    const running = [...this.retired, ...(replica ? [replica] : [])];
    await Promise.all(running.map((r) => r.stop(deadlineMs)));
    if (replica) this.events.gone(replica, "stopped");
    await this.connection.close().catch(() => undefined);
  }
}
