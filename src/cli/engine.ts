/**
 * `bulwark engine build`: builds llama-server (engine.backend "llama-server") once from the
 * llama.cpp source that node-llama-cpp ships, with scripts/build-llama-server.sh, into the
 * directory the config's default points at. Does nothing when the binary is there already.
 */
import { spawn } from "node:child_process";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import type { Command } from "commander";
import { defaultLlamaServerPath, isExecutable } from "../engine/llama-server/index.js";
import { CliError } from "./cli-error.js";
import { progressDisplay } from "../util/progress-display.js";

const SCRIPT = fileURLToPath(new URL("../../../scripts/build-llama-server.sh", import.meta.url));
/** Lines of the build's output shown when it fails. */
const FAILURE_LINES = 30;

function parseJobs(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new CliError(`--jobs must be an integer >= 1, got "${value}"`);
  return n;
}

interface BuildFlags {
  output?: string;
  jobs?: number;
}

/** Runs the build script, turning cmake's "[ 42%]" lines into a progress line. */
function runBuild(output: string, jobs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [SCRIPT, output, String(jobs)], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    const progress = progressDisplay("building llama-server", "percent");
    const tail: string[] = [];
    createInterface({ input: child.stderr! }).on("line", (line) => {
      tail.push(line);
      if (tail.length > FAILURE_LINES) tail.shift();
      const pct = /^\[\s*(\d+)%\]/.exec(line)?.[1];
      if (pct !== undefined) {
        progress.update(Number(pct), 100, { detail: line.replace(/^\[\s*\d+%\]\s*/, "") });
      }
    });
    child.once("error", (err) => reject(new CliError(`could not run the build: ${err.message}`)));
    child.once("exit", (code) => {
      progress.end();
      if (code === 0) resolve();
      else {
        process.stderr.write(`${tail.join("\n")}\n`);
        reject(
          new CliError(`building llama-server failed (exit code ${code}); its output is above`),
        );
      }
    });
  });
}

export function registerEngine(program: Command): void {
  const engine = program
    .command("engine")
    .description("The llama-server engine (engine.backend llama-server).");
  engine
    .command("build")
    .description(
      "Build llama-server once from the llama.cpp source node-llama-cpp ships (needs cmake, " +
        "make, g++ and git; about 9 minutes on 2 cores). Prints the binary's path.",
    )
    .option(
      "-o, --output <path>",
      "binary to create (default: $BULWARK_ENGINES_DIR or ~/.bulwark/engines, " +
        "llama-server-<llama.cpp release>/llama-server)",
    )
    .option("-j, --jobs <n>", "parallel compile jobs (default: the cores, at most 4)", parseJobs)
    .action(async (flags: BuildFlags) => {
      const output = flags.output ?? defaultLlamaServerPath();
      if (isExecutable(output)) {
        process.stderr.write(`llama-server is built already\n`);
      } else {
        await runBuild(output, flags.jobs ?? Math.min(4, availableParallelism()));
      }
      process.stdout.write(`${output}\n`);
    });
}
