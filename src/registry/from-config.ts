/** The registry's settings as the config gives them. */
import { join } from "node:path";
import type { Config } from "../config/index.js";
import type { Logger } from "../observability/index.js";
import { Registry, type RegistryAlert } from "./registry.js";
import { toolkitInspector } from "./inspect.js";

/** The registry folder: registry.dir, else <home>/models. */
export function registryDir(config: Readonly<Config>): string {
  return config.registry.dir || join(config.home, "models");
}

/** Opens the registry the config names. */
export function openRegistry(
  config: Readonly<Config>,
  extras: { logger?: Logger; onAlert?: (alert: RegistryAlert) => void } = {},
): Registry {
  return new Registry({
    dir: registryDir(config),
    backupDir: config.registry.backupDir || undefined,
    backupsToKeep: config.registry.backupsToKeep,
    inspector: toolkitInspector({ validation: config.registry.validateOnImport }),
    ...extras,
  });
}
