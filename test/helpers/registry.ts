/** A registry in a temporary folder for tests, with the real tiny model imported. */
import { closeSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { Registry, toolkitInspector, type RegistryAlert } from "../../src/registry/index.js";
import { tempDir } from "./model-files.js";

export interface TempRegistry {
  dir: string;
  registry: Registry;
  alerts: RegistryAlert[];
  /** Closes the registry and removes the folder. */
  cleanup(): void;
}

/** Inverts one byte of a file in place (a damaged model). */
export function flipByte(path: string, at: number): void {
  const fd = openSync(path, "r+");
  const buf = Buffer.alloc(1);
  readSync(fd, buf, 0, 1, at);
  buf[0] = buf[0]! ^ 0xff;
  writeSync(fd, buf, 0, 1, at);
  closeSync(fd);
}

export function tempRegistry(backupsToKeep = 2): TempRegistry {
  const dir = tempDir("bulwark-registry-");
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
