/**
 * The llama-server child process: its spawn, its output (kept as a short tail and logged) and
 * its resident memory.
 */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import type { Logger } from "../../observability/index.js";
import { workerEnv } from "../../util/worker-env.js";

/** Output lines kept for the message of an unexpected exit. */
const TAIL_LINES = 20;
/** setpriv kills the server when the gateway dies, even by SIGKILL (no orphan holds the cores). */
const SETPRIV = "/usr/bin/setpriv";

/** Starts llama-server with its output piped. */
export function spawnServer(binary: string, args: readonly string[]): ChildProcess {
  // It parses the model file: none of the gateway's secrets in its environment.
  const options: SpawnOptions = { stdio: ["ignore", "pipe", "pipe"], env: workerEnv() };
  return existsSync(SETPRIV)
    ? spawn(SETPRIV, ["--pdeathsig", "KILL", "--", binary, ...args], options)
    : spawn(binary, args, options);
}

/** Logs the process's output lines and keeps the last ones in `tail`. */
export function forwardOutput(child: ChildProcess, tail: string[], log: Logger): void {
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on("line", (line) => {
      const text = line.trim();
      if (!text) return;
      tail.push(text);
      if (tail.length > TAIL_LINES) tail.shift();
      log[outputLevel(text)]({ source: "llama-server" }, text);
    });
  }
}

/**
 * The log level of a llama-server output line. Its own lines carry a level letter after the
 * time ("0.01.101.437 W slot ..."); its warnings are routine (a slot re-evaluating its last
 * prompt token), so only errors reach the default log level. Other lines (a crash's message
 * from the C library) are warnings.
 */
export function outputLevel(line: string): "error" | "warn" | "debug" {
  const letter = /^\d+(?:\.\d+)+ ([EWIDT]) /.exec(line)?.[1];
  if (letter === undefined) return "warn";
  return letter === "E" ? "error" : "debug";
}

/** Resident memory of a process from /proc (Linux); undefined elsewhere or once it is gone. */
export function rssOf(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kib = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
    return kib === undefined ? undefined : Number(kib) * 1024;
  } catch {
    return undefined;
  }
}
