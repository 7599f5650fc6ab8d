/** Runs the real `bulwark` binary and captures its output. */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { repoRoot } from "./paths.js";

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function bulwark(args: string[], timeoutMs = 120_000): CliRun {
  const r = spawnSync(process.execPath, [join(repoRoot(), "bin", "bulwark.js"), ...args], {
    encoding: "utf8",
    timeout: timeoutMs,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
