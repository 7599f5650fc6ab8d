/** Opens the registry for a server start when some model path is a `registry:` reference. */
import type { Config, ModelEntry } from "../../config/index.js";
import type { Logger } from "../../observability/index.js";
import { openRegistry } from "../from-config.js";
import type { MemoryEstimator, MemorySource } from "../../guards/index.js";
import type { RegistryAlert } from "../registry.js";
import { REGISTRY_PREFIX, RegistryServing } from "./registry-serving.js";

export interface RegistryStartOptions {
  logger: Logger;
  /** The memory reading and the estimate of the check before a load (tests inject them). */
  memory?: MemorySource;
  estimator?: MemoryEstimator;
  onAlert?: (alert: RegistryAlert) => void;
}

/**
 * Resolves the `registry:` entries (checks, repair, memory); returns the serving glue and the
 * entries with real paths, or undefined when no entry names the registry.
 */
export async function openRegistryServing(
  config: Readonly<Config>,
  entries: ModelEntry[],
  options: RegistryStartOptions,
): Promise<{ serving: RegistryServing; entries: ModelEntry[] } | undefined> {
  if (!entries.some((e) => e.path?.startsWith(REGISTRY_PREFIX))) return undefined;
  const logger = options.logger.child({ component: "registry" });
  const registry = openRegistry(config, { logger, onAlert: options.onAlert });
  const serving = new RegistryServing({
    registry,
    config,
    logger,
    memory: options.memory,
    estimator: options.estimator,
  });
  try {
    return { serving, entries: await serving.resolveEntries(entries) };
  } catch (err) {
    await serving.close();
    throw err;
  }
}
