/** Runs `bulwark serve` as a child process, as an operator would, and follows its log. */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { repoRoot } from "./paths.js";
import { waitFor } from "./server.js";

export interface ServeProcess {
  child: ChildProcess;
  /** The public URL from the "listening" log line; rejects if the process exits first. */
  url: Promise<string>;
  exit: Promise<number | null>;
  /** Every JSON log line so far. */
  lines: Record<string, any>[];
  stderr(): string;
}

/**
 * Spawns `bulwark serve ARGS` with `env` (the whole environment) on an admin port of its own
 * choosing, so that tests never collide on the default 8081.
 */
export function spawnServe(args: string[], env: NodeJS.ProcessEnv = process.env): ServeProcess {
  const bin = join(repoRoot(), "bin", "bulwark.js");
  const child = spawn(process.execPath, [bin, "serve", "--admin-port", "0", ...args], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: Record<string, any>[] = [];
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const url = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      try {
        const parsed = JSON.parse(line);
        lines.push(parsed);
        if (parsed.msg === "listening") resolve(parsed.url);
      } catch {
        // not a log line
      }
    });
    child.once("exit", (code) => reject(new Error(`exited ${code}: ${stderr}`)));
  });
  url.catch(() => undefined); // a run that is expected to fail never listens
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, url, exit, lines, stderr: () => stderr };
}

/** Polls `url`/readyz until it answers 200 or `timeoutMs` passes; returns whether it did. */
export function waitReady(url: string, timeoutMs: number): Promise<boolean> {
  return waitFor(
    async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200,
    timeoutMs,
  );
}
