/** Where things live under the registry folder. */
import { join } from "node:path";
import { MANIFEST_FILE, MODEL_FILE } from "./manifest.js";

export class RegistryLayout {
  constructor(
    readonly dir: string,
    readonly backupDir: string,
  ) {}

  get indexFile(): string {
    return join(this.dir, "index.db");
  }

  /** Imports are assembled here and renamed into place once complete. */
  get staging(): string {
    return join(this.dir, ".staging");
  }

  versionDir(name: string, version: string): string {
    return join(this.dir, name, version);
  }

  modelFile(name: string, version: string): string {
    return join(this.versionDir(name, version), MODEL_FILE);
  }

  manifestFile(name: string, version: string): string {
    return join(this.versionDir(name, version), MANIFEST_FILE);
  }

  backupVersionDir(name: string, version: string): string {
    return join(this.backupDir, name, version);
  }

  backupModelFile(name: string, version: string): string {
    return join(this.backupVersionDir(name, version), MODEL_FILE);
  }
}

/** Marks a version folder as still being registered by process `pid`. */
export const IMPORT_MARKER = ".import-pid";

/** True when a process with this id runs (signal 0 probes without sending anything). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
