/**
 * The `bulwark` command line. Each command lives in its own file and registers itself on the
 * program; this file only assembles them and maps failures to exit codes.
 */
import { Command, CommanderError } from "commander";
import { registerServe } from "./serve.js";
import { registerModels } from "./models.js";
import { registerBench } from "./bench.js";
import { registerKeys } from "./keys.js";
import { registerBans } from "./bans.js";
import { registerAudit, registerUsage } from "./audit.js";
import { registerRegistryCommands } from "./registry.js";
import { registerEngine } from "./engine.js";
import { registerBackup } from "./backup.js";
import { registerCache } from "./cache.js";
import { registerIncident } from "./incident.js";
import { registerDoctor } from "./doctor.js";
import { CliError } from "./cli-error.js";
import { ConfigError } from "../config/index.js";
import { BulwarkError } from "../errors/index.js";

export { CliError } from "./cli-error.js";

/** Builds the program with every command registered. */
export function buildProgram(): Command {
  const program = new Command("bulwark")
    .description("Self-hosted LLM inference server with protections built in.")
    .version("0.1.0")
    .showHelpAfterError()
    // Program options only before a subcommand, so `models import --version V` is the model's.
    .enablePositionalOptions()
    .exitOverride();
  registerServe(program);
  registerModels(program);
  registerBench(program);
  registerKeys(program);
  registerBans(program);
  registerAudit(program);
  registerUsage(program);
  registerRegistryCommands(program);
  registerEngine(program);
  registerBackup(program);
  registerCache(program);
  registerIncident(program);
  registerDoctor(program);
  return program;
}

/** Runs the CLI with the given arguments and resolves to the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv], { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit with 0; usage errors already printed their message.
      return err.exitCode;
    }
    // One message line, no stack trace: a bad config stops with 2, a refused operation with 1.
    const exitCode =
      err instanceof CliError
        ? err.exitCode
        : err instanceof ConfigError
          ? 2
          : err instanceof BulwarkError
            ? 1
            : undefined;
    if (exitCode === undefined) throw err;
    console.error(`bulwark: ${(err as Error).message}`);
    return exitCode;
  }
}
