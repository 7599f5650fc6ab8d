/** `bulwark serve`: loads the config, starts the server, and stops it in order on SIGTERM/SIGINT. */
import type { Command } from "commander";
import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import { looksLikeRef, parseRef, REGISTRY_PREFIX } from "../registry/index.js";
import { loadConfig } from "../config/index.js";
import { CliError } from "./cli-error.js";

function parseInteger(name: string, min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) {
      throw new CliError(`--${name} must be an integer >= ${min}, got "${value}"`);
    }
    return n;
  };
}

/**
 * `--model PATH`, `--model NAME=PATH`, or a registry reference `--model NAME[:VERSION]` (when no
 * such file exists); the name defaults to the file name without .gguf.
 */
export function parseModelFlag(spec: string): { name: string; path: string } {
  if (!spec.includes("=") && looksLikeRef(spec) && !existsSync(spec)) {
    return { name: parseRef(spec).name, path: REGISTRY_PREFIX + spec };
  }
  const eq = spec.indexOf("=");
  if (eq > 0 && !spec.slice(0, eq).includes("/")) {
    return { name: spec.slice(0, eq), path: spec.slice(eq + 1) };
  }
  return { name: basename(spec).replace(/\.gguf$/i, ""), path: spec };
}

interface ServeFlags {
  config?: string;
  model: string[];
  host?: string;
  port?: number;
  slots?: number;
  replicas?: number;
  threads?: number;
  ctx?: number;
  gpu?: string;
  engineBackend?: string;
  logLevel?: string;
  insecure?: boolean;
  adminHost?: string;
  adminPort?: number;
  state?: string;
  instanceId?: string;
}

/** The built-in demo model, generated under <home>/models on first use. */
async function demoModels(home: string) {
  const { ensureDemoModel, DEMO_MODEL_NAME, DEMO_MODEL_DESCRIPTION } =
    await import("../models/index.js");
  const path = await ensureDemoModel(join(home, "models"));
  return [{ entry: { name: DEMO_MODEL_NAME, path }, description: DEMO_MODEL_DESCRIPTION }];
}

export function registerServe(program: Command): void {
  program
    .command("serve")
    .description("Serve models behind the OpenAI-compatible API.")
    .option("-c, --config <file>", "config file (default: $BULWARK_CONFIG, else ./bulwark.yaml)")
    .option(
      "-m, --model <spec>",
      "model to serve: PATH, NAME=PATH, or a registry NAME[:VERSION] (repeatable); none serves " +
        "the built-in demo model",
      (value: string, prev: string[]) => [...prev, value],
      [] as string[],
    )
    .option("--host <address>", "address to listen on (default 127.0.0.1)")
    .option("-p, --port <port>", "port to listen on (default 8080)", parseInteger("port", 0))
    .option("--admin-host <address>", "address of the admin API (default 127.0.0.1)")
    .option(
      "--admin-port <port>",
      "port of the admin API (default 8081)",
      parseInteger("admin-port", 0),
    )
    .option("--slots <n>", "sequences per worker (default 4)", parseInteger("slots", 1))
    .option("--replicas <n>", "workers per model (default 1)", parseInteger("replicas", 1))
    .option(
      "--threads <n>",
      "llama.cpp threads per worker (default: the cores split between all workers)",
      parseInteger("threads", 1),
    )
    .option("--ctx <tokens>", "context per slot in tokens (default 2048)", parseInteger("ctx", 16))
    .option("--gpu <backend>", "auto, cpu, cuda, vulkan or metal (default auto)")
    .option(
      "--engine-backend <backend>",
      "node-llama-cpp or llama-server (default node-llama-cpp; llama-server needs `bulwark engine build`)",
    )
    .option(
      "--state <url>",
      "share limits, bans and key changes with other instances through this Redis " +
        "(redis://host:port or rediss://…); sets state.backend redis",
    )
    .option("--instance-id <id>", "this instance's id (default: hostname:port)")
    .option("--log-level <level>", "fatal, error, warn, info, debug, trace or silent")
    .option(
      "--insecure",
      "allow security.auth=false on a non-loopback --host (anyone who reaches it may use it)",
    )
    .action(async (flags: ServeFlags) => {
      const overrides: Record<string, unknown> = {
        server: {
          host: flags.host,
          port: flags.port,
          adminHost: flags.adminHost,
          adminPort: flags.adminPort,
        },
        engine: {
          slots: flags.slots,
          replicas: flags.replicas,
          threads: flags.threads,
          contextSize: flags.ctx,
          gpu: flags.gpu,
          backend: flags.engineBackend,
        },
        log: { level: flags.logLevel },
        state: flags.state ? { backend: "redis", redisUrl: flags.state } : {},
        instance: { id: flags.instanceId },
      };
      if (flags.model.length > 0) overrides.models = flags.model.map(parseModelFlag);
      const config = loadConfig({ file: flags.config, overrides });
      const { runServer } = await import("../main.js");
      const home = config.home;
      process.exitCode = await runServer(config, {
        defaultModels: () => demoModels(home),
        adminKey: process.env.BULWARK_ADMIN_KEY,
        insecure: flags.insecure ?? false,
        configFile: flags.config,
      });
    });
}
