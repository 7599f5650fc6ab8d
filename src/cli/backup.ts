/**
 * `bulwark backup create|list|verify|prune|restore`: whole-state backups of a Bulwark home
 * (stores, audit chain, registry, models, config, batch and file folders) and their restore
 * onto a new home, checked end to end.
 */
import type { Command } from "commander";
import { resolve } from "node:path";
import { loadConfig, type Config } from "../config/index.js";
import { openStores } from "../admin/index.js";
import { openRegistry, registryDir } from "../registry/index.js";
import { createLogger } from "../observability/index.js";
import { formatBytes } from "../util/format.js";
import {
  backupDir,
  configFileInUse,
  createBackup,
  listBackups,
  pruneBackups,
  requireDataKey,
  restoreBackup,
  verifyBackup,
} from "../backup/index.js";
import { CliError } from "./cli-error.js";
import { parseCount, table } from "./store-access.js";

interface Common {
  config?: string;
  home?: string;
  json?: boolean;
}

function load(flags: Common): Readonly<Config> {
  return loadConfig({ file: flags.config, overrides: { home: flags.home } });
}

const configOption = [
  "-c, --config <file>",
  "config file (default: $BULWARK_CONFIG, else ./bulwark.yaml)",
] as const;
const homeOption = [
  "--home <dir>",
  "Bulwark home directory (default: config home, ~/.bulwark)",
] as const;
const fromOption = [
  "--from <dir>",
  "backup folder (default: backup.dir, else <home>/backups)",
] as const;

/** The backup folder of a command: the flag, else the config's. */
function folder(flags: Common & { from?: string; to?: string }): string {
  const given = flags.from ?? flags.to;
  return given ? resolve(given) : backupDir(load(flags));
}

export function registerBackup(program: Command): void {
  const backup = program
    .command("backup")
    .description("Back up and restore the whole state of a Bulwark home.");

  backup
    .command("create")
    .description(
      "Snapshot the home while it serves: stores (SQLite online backup), audit head, registry, " +
        "config, batch and file folders, with a MANIFEST of sha256 digests.",
    )
    .option("--to <dir>", "backup folder (default: backup.dir, else <home>/backups)")
    .option("--include-models", "also keep the registry's model files (by digest, incremental)")
    .option("--encrypt", "encrypt every file with the data key (BULWARK_DATA_KEY_FILE)")
    .option(...configOption)
    .option(...homeOption)
    .option("--json", "print the manifest as JSON")
    .action(async (flags: Common & { to?: string; includeModels?: boolean; encrypt?: boolean }) => {
      const config = load(flags);
      const result = await createBackup({
        home: config.home,
        registryDir: registryDir(config),
        dir: flags.to ? resolve(flags.to) : backupDir(config),
        includeModels: flags.includeModels ?? false,
        key: flags.encrypt ? requireDataKey() : undefined,
        configFile: configFileInUse(flags.config),
        effectiveConfig: config,
      });
      const m = result.manifest;
      if (flags.json) {
        console.log(JSON.stringify(m, null, 2));
        return;
      }
      console.log(`backup ${result.id} complete: ${result.path}`);
      console.log(
        `  ${m.files.length} files, ${m.models.length} models, audit chain to entry ` +
          `${m.auditHead?.seq ?? 0}${m.encryption ? ", encrypted" : ""}`,
      );
      console.log(
        `  wrote ${formatBytes(m.bytesWritten, 1)} of ${formatBytes(m.bytesTotal, 1)} ` +
          `in ${(result.durationMs / 1000).toFixed(1)} s`,
      );
    });

  backup
    .command("list")
    .description("List the complete backups of a folder, newest first.")
    .option(...fromOption)
    .option(...configOption)
    .option(...homeOption)
    .option("--json", "print JSON")
    .action((flags: Common & { from?: string }) => {
      const dir = folder(flags);
      const listing = listBackups(dir);
      if (flags.json) {
        console.log(JSON.stringify({ dir, ...listing }, null, 2));
        return;
      }
      if (listing.backups.length === 0) console.log(`no complete backup in ${dir}`);
      else {
        console.log(
          table(
            listing.backups.map((b) => ({
              id: b.id,
              created: b.createdAt,
              models: b.models,
              audit: b.auditEntries,
              size: formatBytes(b.bytesTotal, 1),
              encrypted: b.encrypted ? "yes" : "no",
              version: b.bulwarkVersion,
            })),
            ["id", "created", "models", "audit", "size", "encrypted", "version"],
          ),
        );
      }
      for (const p of listing.incomplete) {
        console.error(
          `incomplete: ${p.name} (${p.live ? "being written now" : "left by a create that stopped; prune removes it"})`,
        );
      }
    });

  backup
    .command("verify <id>")
    .description("Recompute the sha256 of every file of a backup and of its models.")
    .option(...fromOption)
    .option(...configOption)
    .option(...homeOption)
    .action(async (id: string, flags: Common & { from?: string }) => {
      const report = await verifyBackup(folder(flags), id);
      if (report.ok) {
        console.log(
          `backup ${id} intact: ${report.filesChecked} files, ${formatBytes(report.bytesChecked, 1)}`,
        );
        return;
      }
      for (const p of report.problems) console.error(`BAD ${p}`);
      throw new CliError(`backup ${id} fails its checksums (${report.problems.length} files)`);
    });

  backup
    .command("prune")
    .description("Keep the N newest backups; remove the rest and the model files only they held.")
    .requiredOption("--keep <n>", "backups to keep", parseCount("keep"))
    .option(...fromOption)
    .option(...configOption)
    .option(...homeOption)
    .action((flags: Common & { from?: string; keep: number }) => {
      const report = pruneBackups(folder(flags), flags.keep);
      for (const id of report.removed) console.log(`removed ${id}`);
      for (const p of report.partialsRemoved) console.log(`removed incomplete ${p}`);
      console.log(
        `kept ${report.kept.length}, removed ${report.removed.length} backups and ` +
          `${report.blobsRemoved} model files, freed ${formatBytes(report.bytesFreed, 1)}`,
      );
    });

  backup
    .command("restore <id>")
    .description(
      "Check every digest, restore onto an empty home, then verify the audit chain and the models.",
    )
    .requiredOption("--home <dir>", "the home to restore into (empty, or --force)")
    .option(
      "--from <dir>",
      "backup folder (default: backup.dir, else the backups folder of the configured home, " +
        "not of --home)",
    )
    .option("--force", "restore into a home that is not empty (replaces what it restores)")
    .option(...configOption)
    .action(async (id: string, flags: Common & { from?: string; force?: boolean }) => {
      const started = Date.now();
      const config = load(flags);
      const result = await restoreBackup({
        // The new home holds no backup: the default is the configured home's folder.
        dir: flags.from ? resolve(flags.from) : backupDir(loadConfig({ file: flags.config })),
        id,
        home: config.home,
        registryDir: registryDir(config),
        force: flags.force,
      });
      console.log(`restored backup ${id} into ${config.home}: ${result.restored.join(", ")}`);
      if (!checkRestored(config, result.modelsMissing)) process.exitCode = 1;
      const verified = await verifyModels(config);
      if (!verified) process.exitCode = 1;
      console.log(`restore took ${((Date.now() - started) / 1000).toFixed(1)} s`);
      if (process.exitCode !== 1) {
        console.log(
          `start it with: BULWARK_HOME=${config.home} bulwark serve` +
            (result.restored.includes("config")
              ? ` --config ${config.home}/config/bulwark.yaml`
              : ""),
        );
      }
    });
}

/** `audit verify` on the restored home; says which models the backup did not hold. */
function checkRestored(config: Readonly<Config>, modelsMissing: string[]): boolean {
  const stores = openStores(config);
  try {
    const audit = stores.audit.verify();
    if (audit.ok) console.log(`audit log intact: ${audit.entries} entries`);
    else {
      console.error(
        `audit log TAMPERED at entry ${audit.firstBad!.seq}: ${audit.firstBad!.reason}`,
      );
      return false;
    }
  } finally {
    stores.db.close();
  }
  if (modelsMissing.length > 0) {
    console.error(
      `the backup holds no model file for ${modelsMissing.join(", ")} (taken without ` +
        "--include-models): copy each to <registry dir>/NAME/VERSION/model.gguf, where " +
        "`bulwark models verify` checks it against its manifest",
    );
  }
  return true;
}

/** `models verify` on the restored home, then the registry's automatic copies. */
async function verifyModels(config: Readonly<Config>): Promise<boolean> {
  const registry = openRegistry(config, {
    logger: createLogger({ level: "warn", destination: process.stderr }),
  });
  try {
    const results = await registry.verify();
    for (const v of results) {
      console.log(
        `${v.ok ? "ok  " : "BAD "} ${v.name}:${v.version}${v.problem ? "  " + v.problem : ""}`,
      );
    }
    if (!results.every((v) => v.ok)) return false;
    // The automatic copies the repair at load uses are not in a backup: made again here.
    const copied = await registry.backfillBackupCopies();
    if (copied.length > 0) console.log(`automatic backup copies made for ${copied.join(", ")}`);
    return true;
  } finally {
    registry.close();
  }
}
