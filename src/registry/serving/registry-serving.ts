/**
 * The registry inside a running server: resolves `registry:NAME[:VERSION]` model paths at start
 * (with the integrity check, self-repair and memory check), follows `NAME:latest` by reading the
 * index so that a promotion or rollback from the CLI or the admin API hot-swaps the model, and
 * runs the periodic full verification.
 */
import { replicaRange, type Config, type ModelEntry } from "../../config/index.js";
import type { Logger } from "../../observability/index.js";
import { formatRef, LATEST, parseRef } from "../names.js";
import type { Registry, RegistryAlert } from "../registry.js";
import {
  processOverheadBytes,
  SystemMemorySource,
  ToolkitMemoryEstimator,
  type MemoryEstimator,
  type MemorySource,
} from "../../guards/index.js";
import { assertModelFits } from "../memory-check.js";
import { SwappableModel, type SwappableHost } from "./swappable-model.js";

/** The prefix that marks a model path as a registry reference. */
export const REGISTRY_PREFIX = "registry:";

export interface RegistryServingOptions {
  registry: Registry;
  config: Readonly<Config>;
  logger: Logger;
  /** The memory reading of the check before a load; default: the system's (cgroup, meminfo). */
  memory?: MemorySource;
  /** The load estimate; default: admission's, with `processOverheadBytes` per process. */
  estimator?: MemoryEstimator;
}

interface Followed {
  name: string;
  /** True when served as NAME (follows latest); false for a pinned NAME:VERSION. */
  follows: boolean;
  entry: ModelEntry;
  /** The version loaded at start. */
  version: string;
  model?: SwappableModel;
  makeHost?: (path: string) => SwappableHost;
  /** A version that failed to load; not retried until latest moves again. */
  refused?: string;
}

export class RegistryServing {
  private readonly followed = new Map<string, Followed>();
  private readonly memory: MemorySource;
  private readonly estimator: MemoryEstimator;
  private watchTimer: NodeJS.Timeout | undefined;
  private verifyTimer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private verifying = false;
  private closed = false;
  readonly registry: Registry;

  constructor(private readonly options: RegistryServingOptions) {
    this.registry = options.registry;
    this.memory = options.memory ?? new SystemMemorySource();
    this.estimator =
      options.estimator ?? new ToolkitMemoryEstimator(processOverheadBytes(options.config));
  }

  private shape(entry: ModelEntry) {
    const engine = this.options.config.engine;
    return {
      contextSize: entry.contextSize ?? engine.contextSize,
      slots: entry.slots ?? engine.slots,
      // The workers a start loads; an autoscaled model's further ones pass load admission.
      replicas: replicaRange(entry, engine).min,
    };
  }

  /** Integrity check (repairing from backup) and memory check; returns the file to load. */
  private async prepareLoad(entry: ModelEntry, name: string, version: string, pending = 0) {
    await this.registry.checkForLoad(name, version);
    return this.checkMemory(entry, name, version, pending);
  }

  /**
   * Load admission's rule for the whole model, before any worker starts: throws
   * model_load_refused_memory when it does not fit. Off with the guards (`guards.enabled`).
   */
  private async checkMemory(entry: ModelEntry, name: string, version: string, pending = 0) {
    const resolved = this.registry.resolve(formatRef(name, version));
    const { guards } = this.options.config;
    if (!guards.enabled) return { path: resolved.path, estimate: 0 };
    const shape = this.shape(entry);
    const estimate = await assertModelFits(
      {
        model: formatRef(name, version),
        spec: { modelPath: resolved.path, contextSize: shape.contextSize, slots: shape.slots },
        replicas: shape.replicas,
      },
      {
        estimator: this.estimator,
        memory: () => this.memory.read(),
        pendingBytes: pending,
        warnPercent: guards.warnPercent,
      },
    );
    return { path: resolved.path, estimate: estimate.totalBytes };
  }

  /**
   * The memory check a promotion to name:version will meet, run now for each served model that
   * follows `name`, so the admin API refuses a promotion that does not fit before `latest` moves.
   */
  async checkPromotion(name: string, version: string): Promise<void> {
    for (const f of this.followed.values()) {
      if (!f.follows || !f.model || f.name !== name || f.model.version === version) continue;
      await this.checkMemory(f.entry, name, version);
    }
  }

  /**
   * Replaces each `registry:` path in `entries` with the file it names, after the checks.
   * Throws (BulwarkError) when a model is missing, damaged beyond repair, or does not fit.
   */
  async resolveEntries(entries: ModelEntry[]): Promise<ModelEntry[]> {
    let pending = 0;
    const out: ModelEntry[] = [];
    for (const entry of entries) {
      if (!entry.path?.startsWith(REGISTRY_PREFIX)) {
        out.push(entry);
        continue;
      }
      const spec = entry.path.slice(REGISTRY_PREFIX.length);
      const ref = parseRef(spec);
      const resolved = this.registry.resolve(spec);
      const load = await this.prepareLoad(entry, resolved.name, resolved.version, pending);
      pending += load.estimate;
      const resolvedEntry = { ...entry, path: load.path };
      this.followed.set(entry.name, {
        name: resolved.name,
        follows: ref.tag === LATEST,
        entry: resolvedEntry,
        version: resolved.version,
      });
      this.options.logger.info(
        { model: entry.name, version: resolved.version, sha256: resolved.manifest.sha256 },
        "registry model checked",
      );
      out.push(resolvedEntry);
    }
    return out;
  }

  /** True when `servedName` comes from the registry. */
  serves(servedName: string): boolean {
    return this.followed.has(servedName);
  }

  /** Wraps a registry model's host so that it can be swapped; other hosts pass through. */
  wrap<H extends SwappableHost>(
    servedName: string,
    host: H,
    makeHost: (path: string) => SwappableHost,
  ): SwappableModel | H {
    const f = this.followed.get(servedName);
    if (!f) return host;
    const version = f.version;
    f.model = new SwappableModel(
      servedName,
      host,
      version,
      this.options.config.server.drainTimeoutMs,
      this.options.logger.child({ component: "registry" }),
    );
    f.makeHost = makeHost;
    this.registry.markServing(f.name, version);
    return f.model;
  }

  /** The served models from the registry, with their versions. */
  served(): { servedName: string; name: string; version: string; follows: boolean }[] {
    return [...this.followed.entries()]
      .filter(([, f]) => f.model)
      .map(([servedName, f]) => ({
        servedName,
        name: f.name,
        version: f.model!.version,
        follows: f.follows,
      }));
  }

  /** Starts following the index and the periodic verification. */
  start(): void {
    const { watchIntervalMs, verifyIntervalMs } = this.options.config.registry;
    this.watchTimer = setInterval(() => void this.poll(), watchIntervalMs);
    this.watchTimer.unref();
    if (verifyIntervalMs > 0) {
      this.verifyTimer = setInterval(() => void this.verifyServed(), verifyIntervalMs);
      this.verifyTimer.unref();
    }
  }

  /** Reads the index once and swaps every followed model whose `latest` moved. */
  poll(): Promise<void> {
    if (this.polling) return this.polling;
    const run = async () => {
      for (const f of this.followed.values()) {
        if (!f.follows || !f.model || f.model.isSwapping || this.closed) continue;
        const latest = this.registry.latest(f.name);
        if (!latest || latest === f.model.version || latest === f.refused) continue;
        await this.switchTo(f, latest);
      }
    };
    // Cleared in a later tick, after the assignment (a run with nothing to do ends at once).
    this.polling = run().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  private async switchTo(f: Followed, version: string): Promise<void> {
    const log = this.options.logger.child({ component: "registry", model: f.name });
    let load;
    try {
      load = await this.prepareLoad(f.entry, f.name, version);
    } catch (err) {
      f.refused = version;
      log.error({ version, err: (err as Error).message }, "not switching to the new version");
      return;
    }
    log.info({ from: f.model!.version, to: version }, "loading the promoted version");
    const swapped = await f.model!.swap(f.makeHost!(load.path), version);
    if (swapped && !this.closed) {
      f.refused = undefined;
      this.registry.markServing(f.name, version);
    } else {
      f.refused = version;
    }
  }

  /** Full sha256 of every served version; a damaged file is repaired from its backup. */
  async verifyServed(): Promise<void> {
    if (this.verifying) return;
    this.verifying = true;
    try {
      for (const s of this.served()) {
        const [result] = await this.registry.verify(formatRef(s.name, s.version));
        if (result && !result.ok) {
          const repaired = await this.registry
            .repair(
              s.name,
              s.version,
              `periodic verification: ${formatRef(s.name, s.version)} ${result.problem}`,
            )
            .then(
              () => true,
              () => false,
            );
          if (repaired) await this.reload(s.servedName, s.version);
        }
      }
    } finally {
      this.verifying = false;
    }
  }

  /**
   * Starts fresh workers on a repaired file: the running ones still map the damaged copy (the
   * repair renamed a new file into place). Requests in flight finish on the old workers.
   */
  private async reload(servedName: string, version: string): Promise<void> {
    const f = this.followed.get(servedName);
    if (!f?.model || !f.makeHost || this.closed) return;
    const log = this.options.logger.child({ component: "registry", model: f.name });
    try {
      const load = await this.prepareLoad(f.entry, f.name, version);
      log.warn({ version }, "reloading the model from its repaired file");
      await f.model.swap(f.makeHost(load.path), version);
    } catch (err) {
      log.error({ version, err: (err as Error).message }, "could not reload the repaired model");
    }
  }

  /** Waits for a running poll and swap to finish (tests). */
  async settled(): Promise<void> {
    await this.polling;
    await Promise.all([...this.followed.values()].map((f) => f.model?.settled()));
  }

  /** Stops following; call after the models closed (a swap in progress has ended then). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.watchTimer);
    clearInterval(this.verifyTimer);
    await this.polling?.catch(() => undefined);
    for (const f of this.followed.values()) this.registry.markServing(f.name, null);
    this.registry.close();
  }
}

export type { RegistryAlert };
