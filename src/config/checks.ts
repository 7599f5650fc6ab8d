/**
 * The checks that read more than one field, or the configuration together with what the
 * machine and the command line say (the cores, --insecure, the models a start found). The
 * schema checks each field alone; loadConfig runs the pure checks below, and main.ts runs the
 * ones that need the start's facts before it opens anything. Each names the field it refuses.
 */
import { isLoopback } from "../util/ip-address.js";
import { invalidField } from "./config-error.js";
import type { Config, ModelEntry, ReplicaRange } from "./schema.js";

/** Two models with one name could not be told apart by a client. */
export function checkModelNames(models: readonly ModelEntry[]): void {
  const names = new Set<string>();
  models.forEach((model, i) => {
    if (names.has(model.name)) {
      throw invalidField("models", `duplicate model name "${model.name}"`);
    }
    names.add(model.name);
    if (model.path === undefined && (model.backends ?? []).length === 0) {
      throw invalidField(`models[${i}].path`, `"${model.name}" needs a path or backends`);
    }
  });
}

/** Refuses auth off on a public address unless --insecure. */
export function checkBinding(config: Readonly<Config>, insecure: boolean): void {
  if (!config.security.auth && !isLoopback(config.server.host) && !insecure) {
    throw invalidField(
      "security.auth",
      `authentication is off and the API listens on ${config.server.host}, which is not a ` +
        `loopback address; turn auth on, listen on 127.0.0.1, or pass --insecure to accept the risk`,
    );
  }
}

/** A start needs at least one model: from the config, or the built-in demo model. */
export function checkModelsToServe(config: Readonly<Config>, demoModel: boolean): void {
  if (config.models.length === 0 && !demoModel) {
    throw invalidField("models", "no model to serve; pass --model PATH");
  }
}

/** Every degradation ladder names a model that is served. */
export function checkLadderModels(
  ladder: Readonly<Config["guards"]["ladder"]>,
  served: readonly string[],
): void {
  ladder.forEach((l, i) => {
    if (!served.includes(l.model)) {
      throw invalidField(`guards.ladder[${i}].model`, `"${l.model}" is not a served model`);
    }
  });
}

export interface PlannedModel {
  entry: ModelEntry;
  /** Workers started; an autoscaled model's `min`. */
  replicas: number;
  /** Workers at most: `replicas`, or an autoscaled model's `max` (the thread plan holds at it). */
  maxReplicas: number;
  threads: number;
  description?: string;
}

/** A model's replicas as a range: a plain number n is {min: n, max: n} (no autoscaling). */
export function replicaRange(entry: ModelEntry, engine: Config["engine"]): ReplicaRange {
  // A model served only by remote backends runs no local worker.
  if (entry.path === undefined) return { min: 0, max: 0 };
  const r = entry.replicas ?? engine.replicas;
  return typeof r === "number" ? { min: r, max: r } : r;
}

/**
 * Threads per worker when the config leaves it to the supervisor: the cores split evenly
 * between all workers, at least one each, with one core left for the gateway when the machine
 * has more than one. Measured on a 2-core machine: 4 llama.cpp threads ran a tiny model about
 * 1000× slower than 1, and one worker with 2 threads stalled to a few tokens a second as soon as
 * the gateway needed the CPU to forward its tokens: llama.cpp's threads spin while they wait for
 * each other, so a thread that loses its core stalls all of them.
 */
export function threadsPerWorker(totalWorkers: number, cores: number): number {
  const usable = cores > 1 ? cores - 1 : 1;
  if (totalWorkers <= 0) return usable;
  return Math.max(1, Math.floor(usable / totalWorkers));
}

/**
 * Threads for every model's workers. Unset threads split the cores evenly between all workers;
 * explicit threads that together exceed the cores are refused: llama.cpp's threads spin while
 * they wait, and oversubscribed cores were measured about 1000× slower. An autoscaled model
 * counts with its `max` replicas, so that the plan still holds once it has grown: its workers
 * get the threads they would have with `max` of them running from the start.
 */
export function planThreads(
  models: { entry: ModelEntry; description?: string }[],
  engine: Config["engine"],
  cores: number,
): PlannedModel[] {
  const ranges = models.map((m) => replicaRange(m.entry, engine));
  const totalWorkers = ranges.reduce((n, r) => n + r.max, 0);
  const auto = threadsPerWorker(totalWorkers, cores);
  const planned = models.map((m, i) => ({
    entry: m.entry,
    description: m.description,
    replicas: ranges[i]!.min,
    maxReplicas: ranges[i]!.max,
    threads: m.entry.threads || engine.threads || auto,
  }));
  const total = planned.reduce((n, p) => n + p.threads * p.maxReplicas, 0);
  const explicit = models.some((m) => m.entry.threads || engine.threads);
  if (explicit && total > cores) {
    throw invalidField(
      "engine.threads",
      `${total} llama.cpp threads in all (threads × replicas over every model, an ` +
        `autoscaled model's max replicas) exceed the ${cores} cores; lower --threads or --replicas`,
    );
  }
  return planned;
}

/** The Redis backend needs a URL. */
export function checkState(state: Readonly<Config["state"]>): void {
  if (state.backend === "redis" && !state.redisUrl) {
    throw invalidField("state.redisUrl", "state.backend is redis but no redis:// URL is given");
  }
}
