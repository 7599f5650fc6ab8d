/**
 * The running server's backups: one at a time, on the schedule (`backup.schedule`) and on
 * request (the admin API). Each run is logged, reported to the metrics, and pruned to the
 * schedule's retention; `backup_stale` fires when the last success is older than twice the
 * interval.
 */
import type { AuditAppend } from "../admin/index.js";
import { join } from "node:path";
import type { Config } from "../config/index.js";
import { BulwarkError } from "../errors/index.js";
import type { BackupObserver, Logger } from "../observability/index.js";
import { listBackups, pruneBackups, type BackupListing } from "./catalog.js";
import { createBackup, type CreateResult } from "./create.js";
import { requireDataKey, type DataKey } from "./data-key.js";

/** The backup folder: backup.dir, else <home>/backups. */
export function backupDir(config: Readonly<Config>): string {
  return config.backup.dir || join(config.home, "backups");
}

export interface BackupServiceOptions {
  config: Readonly<Config>;
  /** The registry folder of this home. */
  registryDir: string;
  logger: Logger;
  observer?: BackupObserver;
  /** Appends an audit entry for a scheduled run (the admin API audits its own). */
  audit?: AuditAppend;
  /** The config file the server was started with, kept in each backup. */
  configFile?: string;
  now?: () => number;
}

/** How often the schedule checks whether the last success is too old, at most. */
const STALE_CHECK_MS = 60_000;

export class BackupService {
  readonly dir: string;
  private running: Promise<CreateResult> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private staleTimer: NodeJS.Timeout | undefined;
  private lastSuccessAt: number | null = null;
  /** When the stale clock started, while no backup succeeded yet. */
  private readonly staleSince: number;
  private readonly key: DataKey | undefined;
  private closed = false;
  private readonly now: () => number;
  private readonly log: Logger;

  constructor(private readonly o: BackupServiceOptions) {
    this.dir = backupDir(o.config);
    this.now = o.now ?? Date.now;
    this.log = o.logger.child({ component: "backup" });
    this.staleSince = this.now();
    // With backup.encrypt, a missing or bad data key stops the start, not every later backup.
    this.key = o.config.backup.encrypt ? requireDataKey() : undefined;
  }

  /** Takes a backup now; refused with backup_in_progress while one runs. */
  create(trigger: "schedule" | "admin"): Promise<CreateResult> {
    if (this.running) {
      throw new BulwarkError("backup_in_progress");
    }
    const run = this.run(trigger);
    this.running = run;
    void run.then(
      () => (this.running = undefined),
      () => (this.running = undefined),
    );
    return run;
  }

  private async run(trigger: "schedule" | "admin"): Promise<CreateResult> {
    const started = this.now();
    const b = this.o.config.backup;
    try {
      const result = await createBackup({
        home: this.o.config.home,
        registryDir: this.o.registryDir,
        dir: this.dir,
        includeModels: b.includeModels,
        key: this.key,
        configFile: this.o.configFile,
        effectiveConfig: this.o.config,
        now: () => new Date(this.now()),
      });
      const m = result.manifest;
      this.lastSuccessAt = Date.parse(m.createdAt);
      this.o.observer?.backupRun({
        ok: true,
        durationSeconds: result.durationMs / 1000,
        bytes: m.bytesWritten,
        at: this.lastSuccessAt,
      });
      let pruned: string[] = [];
      if (trigger === "schedule") pruned = pruneBackups(this.dir, b.schedule.keep).removed;
      this.log.info(
        {
          trigger,
          backup: result.id,
          durationMs: result.durationMs,
          bytesWritten: m.bytesWritten,
          bytesTotal: m.bytesTotal,
          models: m.models.length,
          auditHead: m.auditHead?.seq ?? 0,
          pruned,
        },
        "backup taken",
      );
      this.checkStale();
      return result;
    } catch (err) {
      this.o.observer?.backupRun({
        ok: false,
        durationSeconds: (this.now() - started) / 1000,
        bytes: 0,
        at: this.now(),
      });
      this.log.error({ trigger, err: (err as Error).message }, "backup failed");
      throw err instanceof BulwarkError
        ? err
        : new BulwarkError("backup_failed", undefined, { cause: err });
    }
  }

  list(): BackupListing {
    return listBackups(this.dir);
  }

  /** Starts the schedule, if it has an interval. */
  start(): void {
    const interval = this.o.config.backup.schedule.intervalMs;
    if (interval <= 0) return;
    const newest = this.list().backups[0];
    // Counted from the newest backup already there, else from now: a fresh server is not stale.
    this.lastSuccessAt = newest ? Date.parse(newest.createdAt) : null;
    const since = this.lastSuccessAt ?? this.now();
    const due = Math.max(0, Math.min(interval, since + interval - this.now()));
    this.schedule(due);
    this.staleTimer = setInterval(() => this.checkStale(), Math.min(interval, STALE_CHECK_MS));
    this.staleTimer.unref();
    this.checkStale();
    this.log.info(
      {
        intervalMs: interval,
        keep: this.o.config.backup.schedule.keep,
        dir: this.dir,
        firstInMs: due,
      },
      "backup schedule on",
    );
  }

  private schedule(delay: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      void this.tick();
    }, delay);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    try {
      if (!this.running) {
        const r = await this.create("schedule");
        this.o.audit?.("system", "backup.created", r.id, {
          trigger: "schedule",
          bytesWritten: r.manifest.bytesWritten,
        });
      }
    } catch {
      // Logged and counted by run(); the next interval tries again.
    }
    this.schedule(this.o.config.backup.schedule.intervalMs);
  }

  /** Fires or resolves `backup_stale`: no success for twice the interval. */
  private checkStale(): void {
    const interval = this.o.config.backup.schedule.intervalMs;
    if (interval <= 0) return;
    const since = this.lastSuccessAt ?? this.staleSince;
    const stale = this.now() - since > 2 * interval;
    this.o.observer?.backupStale(stale, {
      lastSuccessAt: this.lastSuccessAt,
      intervalMs: interval,
    });
  }

  /** Stops the schedule and waits for a backup in progress. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.staleTimer) clearInterval(this.staleTimer);
    await this.running?.catch(() => undefined);
  }
}
