/**
 * `bulwark models import|pull|list|promote|rollback|rm|verify|backup|restore`: the model
 * registry from the command line. The subcommands join the `models` group, which they create
 * when no other file has.
 */
import type { Command } from "commander";
import { loadConfig, type Config } from "../config/index.js";
import { createLogger } from "../observability/index.js";
import { formatBytes } from "../util/format.js";
import { progressDisplay, type ProgressDisplay } from "../util/progress-display.js";
import {
  backupTo,
  openRegistry,
  pullModel,
  restoreFrom,
  type Manifest,
  type Registry,
} from "../registry/index.js";

interface Common {
  config?: string;
}

function config(flags: Common): Config {
  return loadConfig({ file: flags.config });
}

/** Runs `fn` on the configured registry and closes it. */
async function withRegistry<T>(flags: Common, fn: (r: Registry, c: Config) => Promise<T>) {
  const cfg = config(flags);
  const logger = createLogger({ level: "warn", destination: process.stderr });
  const registry = openRegistry(cfg, { logger });
  try {
    return await fn(registry, cfg);
  } finally {
    registry.close();
  }
}

/** A progress callback factory that draws one bar per label on stderr. */
function bars() {
  let current: ProgressDisplay | undefined;
  return (label: string) => {
    current?.end();
    const display = progressDisplay(label, "bytes");
    current = display;
    return (done: number, total: number) => display.update(done, total);
  };
}

function printManifest(m: Manifest, verb: string): void {
  console.log(`${verb} ${m.name}:${m.version}`);
  console.log(`  sha256        ${m.sha256}`);
  console.log(`  size          ${formatBytes(m.size, 1)} (${m.size} bytes)`);
  console.log(`  architecture  ${m.architecture ?? "?"}   quantization ${m.quantization ?? "?"}`);
  console.log(`  parameters    ${m.parameterCount ?? "?"}   context ${m.contextLength ?? "?"}`);
  console.log(`  validation    ${m.validation.checks.join("; ")}`);
}

/** The `models` group: the existing one, or a new one. */
function modelsGroup(program: Command): Command {
  return (
    program.commands.find((c) => c.name() === "models") ??
    program.command("models").description("Manage model files and the model registry.")
  );
}

const configOption = [
  "-c, --config <file>",
  "config file (default: $BULWARK_CONFIG, else ./bulwark.yaml)",
] as const;

export function registerRegistryCommands(program: Command): void {
  const models = modelsGroup(program);

  models
    .command("import <file>")
    .description("Validate a GGUF, copy it into the registry with its sha256 and manifest.")
    .requiredOption("-n, --name <name>", "model name")
    .option("-v, --version <version>", "version (default: the next number)")
    .option("--promote", "point NAME:latest at it (the first version always gets it)")
    .option(...configOption)
    .action((file: string, flags: Common & { name: string; version?: string; promote?: boolean }) =>
      withRegistry(flags, async (r) => {
        const m = await r.import(file, {
          name: flags.name,
          version: flags.version,
          promote: flags.promote,
          onConvert: () => console.error("not GGUF: converting it to GGUF first"),
          onProgress: bars()("import"),
        });
        printManifest(m, "imported");
      }),
    );

  models
    .command("pull <source>")
    .description("Download URL or hf:OWNER/REPO/FILE.gguf (resumable, checked) and import it.")
    .option("-n, --name <name>", "model name (default: the file name)")
    .option("-v, --version <version>", "version (default: the next number)")
    .option("--sha256 <hex>", "expected sha256 (an URL source publishes none)")
    .option("--promote", "point NAME:latest at it")
    .option(...configOption)
    .action(
      (
        source: string,
        flags: Common & { name?: string; version?: string; sha256?: string; promote?: boolean },
      ) =>
        withRegistry(flags, async (r, cfg) => {
          const token = process.env.HF_TOKEN;
          const m = await pullModel(
            r,
            {
              source,
              name: flags.name,
              version: flags.version,
              sha256: flags.sha256,
              promote: flags.promote,
            },
            {
              hubUrl: cfg.registry.hubUrl,
              retries: cfg.registry.pullRetries,
              idleTimeoutMs: cfg.registry.pullIdleTimeoutMs,
              hubToken: token || undefined,
              logger: createLogger({ level: "warn", destination: process.stderr }),
              onProgress: bars(),
            },
          );
          printManifest(m, "pulled");
        }),
    );

  models
    .command("list")
    .description("List registered versions and their aliases.")
    .option("--json", "print JSON")
    .option(...configOption)
    .action((flags: Common & { json?: boolean }) =>
      withRegistry(flags, async (r) => {
        const rows = r.list();
        if (flags.json) {
          console.log(JSON.stringify(rows, null, 2));
          return;
        }
        if (rows.length === 0) {
          console.log("no model in the registry; add one with `bulwark models import`");
          return;
        }
        for (const row of rows) {
          const aliases = row.aliases.length ? ` (${row.aliases.join(", ")})` : "";
          console.log(
            `${row.name}:${row.version}${aliases}  ${formatBytes(row.size, 1)}  ` +
              `${row.architecture ?? "?"} ${row.quantization ?? "?"}  ${row.createdAt}  ` +
              `sha256 ${row.sha256.slice(0, 12)}${row.backedUp ? "  backed up" : ""}`,
          );
        }
      }),
    );

  models
    .command("promote <ref>")
    .description("Point NAME:latest at NAME:VERSION; a running server switches to it.")
    .option(...configOption)
    .action((ref: string, flags: Common) =>
      withRegistry(flags, async (r) => {
        const m = r.promote(ref);
        console.log(`${m.name}:latest → ${m.version}`);
      }),
    );

  models
    .command("rollback <name>")
    .description("Point NAME:latest back at the version it had before.")
    .option(...configOption)
    .action((name: string, flags: Common) =>
      withRegistry(flags, async (r) => {
        const m = r.rollback(name);
        console.log(`${m.name}:latest → ${m.version}`);
      }),
    );

  models
    .command("rm <ref>")
    .description("Remove NAME:VERSION (refused while it is serving or aliased).")
    .option("--force", "remove it even so")
    .option(...configOption)
    .action((ref: string, flags: Common & { force?: boolean }) =>
      withRegistry(flags, async (r) => {
        const m = r.resolve(ref);
        r.remove(`${m.name}:${m.version}`, { force: flags.force });
        console.log(`removed ${m.name}:${m.version}`);
      }),
    );

  models
    .command("verify [ref]")
    .description("Recompute the full sha256 of one version, a name's versions, or everything.")
    .option(...configOption)
    .action((ref: string | undefined, flags: Common) =>
      withRegistry(flags, async (r) => {
        const results = await r.verify(ref, bars());
        for (const v of results) {
          console.log(
            `${v.ok ? "ok  " : "BAD "} ${v.name}:${v.version}${v.problem ? "  " + v.problem : ""}`,
          );
        }
        if (results.some((v) => !v.ok)) process.exitCode = 1;
      }),
    );

  models
    .command("backup <ref>")
    .description("Copy NAME:VERSION with its manifest into DIR and update DIR/SHA256SUMS.")
    .requiredOption("--to <dir>", "backup folder")
    .option(...configOption)
    .action((ref: string, flags: Common & { to: string }) =>
      withRegistry(flags, async (r) => {
        const files = await backupTo(r, ref, flags.to);
        console.log(`backed up ${files.join(", ")} to ${flags.to}`);
      }),
    );

  models
    .command("restore")
    .description("Check every checksum in DIR/SHA256SUMS, then register the models it holds.")
    .requiredOption("--from <dir>", "backup folder")
    .option(...configOption)
    .action((flags: Common & { from: string }) =>
      withRegistry(flags, async (r) => {
        const report = await restoreFrom(r, flags.from, bars());
        for (const k of report.registered) console.log(`restored ${k}`);
        for (const k of report.alreadyPresent) console.log(`already present ${k}`);
      }),
    );
}
