/**
 * Start step: telemetry and the memory guard. Chooses the memory source (a test's, a budget
 * over Bulwark's own RSS, or the machine's cgroup / meminfo), the process probe and the load
 * estimator, and connects the guard's reports to the telemetry and the telemetry's gauges to
 * the guard and the model hosts.
 */
import type { Config } from "../config/index.js";
import { Telemetry, type Logger } from "../observability/index.js";
import {
  BudgetMemorySource,
  GuardRuntime,
  guardGauges,
  processOverheadBytes,
  ProcProbe,
  SystemMemorySource,
  ToolkitMemoryEstimator,
  type MemoryEstimator,
  type MemorySource,
  type ProcessProbe,
} from "../guards/index.js";
import type { ModelHost } from "../supervisor/index.js";
import type { ResourceStack } from "./resources.js";

export interface GuardStepOptions {
  logger: Logger;
  /** Every live model host, read at each use (hosts come and go with registry swaps). */
  hosts: () => readonly ModelHost[];
  /** Caches the reclaim step may empty. */
  caches: { name: string; clear(): number }[];
  /** The API's address once it listens, for the `instance` field of alert events. */
  address: () => string;
  memorySource?: MemorySource;
  processProbe?: ProcessProbe;
  memoryEstimator?: MemoryEstimator;
  /** This instance's id, the label of the bulwark_instance_info metric. */
  instanceId?: string;
  /** Whether the state backend can be reached (the bulwark_state_backend_up gauge). */
  stateUp?: () => boolean;
}

export interface Watch {
  telemetry: Telemetry;
  /** Undefined when `guards.enabled` is off. */
  guards: GuardRuntime | undefined;
  /** The load estimate of admission, also used by the registry's check before a load. */
  estimator: MemoryEstimator;
  /** Starts the monitor's sampling and the alerts' evaluation. */
  start(): void;
}

export function buildWatch(
  config: Readonly<Config>,
  o: GuardStepOptions,
  resources: ResourceStack,
): Watch {
  const g = config.guards;
  let guards: GuardRuntime | undefined = undefined;
  const telemetry = new Telemetry({
    alerts: config.alerts,
    memoryWarnPercent: g.warnPercent,
    logger: o.logger,
    instance: o.address,
    instanceId: o.instanceId,
    ready: () => {
      const all = o.hosts();
      return all.length > 0 && all.every((h) => h.isReady() || h.isUnloaded());
    },
    state: {
      models: () =>
        o.hosts().map((h) => {
          const s = h.status();
          return {
            name: s.name,
            running: s.slots.busy,
            waiting: s.queue.waiting,
            busySlots: s.slots.busy,
            totalSlots: s.slots.total,
            ready: s.ready,
            unloaded: s.unloaded,
          };
        }),
      ...guardGauges(g, () => guards),
      stateBackendUp: () => ((o.stateUp?.() ?? true) ? 1 : 0),
      backends: () =>
        o.hosts().flatMap((h) =>
          (h.status().backends ?? []).map((b) => ({
            model: h.name,
            backend: b.name,
            up: b.state === "healthy",
            inFlight: b.inFlight,
            latencyMs: b.latencyMs,
          })),
        ),
    },
  });
  resources.push("telemetry", () => telemetry.close());
  const estimator = o.memoryEstimator ?? new ToolkitMemoryEstimator(processOverheadBytes(config));
  if (g.enabled) {
    guards = new GuardRuntime({
      settings: g,
      logger: o.logger,
      hosts: o.hosts,
      caches: o.caches,
      memory:
        o.memorySource ??
        (g.memoryBudgetBytes > 0
          ? new BudgetMemorySource(g.memoryBudgetBytes, () => guards?.ownRssBytes() ?? 0)
          : new SystemMemorySource()),
      probe: o.processProbe ?? new ProcProbe(),
      estimator,
      observer: telemetry.guardObserver,
    });
    const runtime = guards;
    resources.push("memory guard", () => runtime.close());
  }
  return {
    telemetry,
    guards,
    estimator,
    start: () => {
      guards?.start();
      telemetry.start();
    },
  };
}
