/** A registry in a temporary folder for tests, with the real tiny model imported. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Registry, toolkitInspector, type RegistryAlert } from "../../src/registry/index.js";

export interface TempRegistry {
  dir: string;
  registry: Registry;
  alerts: RegistryAlert[];
  /** Closes the registry and removes the folder. */
  cleanup(): void;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `bulwark-${prefix}-`));
}

export function tempRegistry(backupsToKeep = 2): TempRegistry {
  const dir = tempDir("registry");
  const alerts: RegistryAlert[] = [];
  const registry = new Registry({
    dir: join(dir, "models"),
    backupsToKeep,
    // The quick validation loads the model in a worker; the CLI tests run it, these skip it.
    inspector: toolkitInspector({ validation: "header" }),
    onAlert: (a) => alerts.push(a),
  });
  return {
    dir,
    registry,
    alerts,
    cleanup() {
      try {
        registry.close();
      } catch {
        // already closed
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
