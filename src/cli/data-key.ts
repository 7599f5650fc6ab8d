/**
 * `bulwark keys rotate-data-key --out FILE`: a new data key in FILE (0600), the steps to put it
 * in force, and an audit entry. `bulwark keys reseal`: re-encrypts, with the current data key,
 * every value sealed with a previous one (the response cache's Redis tier), in bounded batches,
 * with its progress on stderr; an interrupted run resumes where it stopped (the checkpoint is in
 * Redis). Values sealed with the old key keep opening while its file is listed in
 * BULWARK_DATA_KEY_PREVIOUS_FILES; once the reseal is done, nothing needs it.
 */
import type { Command } from "commander";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { FileResealCounts } from "../batch/index.js";
import { Keyring, resealAll, type ResealState } from "../crypto/index.js";
import { BulwarkError } from "../errors/index.js";
import { loadConfig, type Config } from "../config/index.js";
import { progressDisplay } from "../util/progress-display.js";
import { CliError } from "./cli-error.js";
import {
  commandRedis,
  parseCount,
  redisShown,
  storeOptions,
  withStores,
  type StoreFlags,
} from "./store-access.js";

function envKeyring(): Keyring | undefined {
  try {
    return Keyring.fromEnv();
  } catch (err) {
    if (err instanceof BulwarkError) throw new CliError(`${err.code}: ${err.message}`);
    throw err;
  }
}

export function registerRotateDataKey(keys: Command): void {
  storeOptions(
    keys
      .command("rotate-data-key")
      .description(
        "Write a new data key (AES-256) to --out and print how to put it in force; the current " +
          "key (BULWARK_DATA_KEY_FILE) becomes a previous key that still opens what it sealed " +
          "until `bulwark keys reseal` has moved everything to the new one.",
      )
      .requiredOption("--out <file>", "where to write the new key (created, mode 0600)"),
  ).action(async (flags: StoreFlags & { out: string }) => {
    const ring = envKeyring();
    if (!ring || !process.env.BULWARK_DATA_KEY_FILE) {
      throw new CliError(
        "set BULWARK_DATA_KEY_FILE to the current key's file first (a first key: openssl rand -hex 32)",
      );
    }
    const out = resolve(flags.out);
    try {
      writeFileSync(out, randomBytes(32).toString("hex") + "\n", { mode: 0o600, flag: "wx" });
    } catch (err) {
      throw new CliError(`cannot create ${out}: ${(err as NodeJS.ErrnoException).code ?? "error"}`);
    }
    const next = Keyring.fromEnv({ BULWARK_DATA_KEY_FILE: out })!;
    const previous = [
      resolve(process.env.BULWARK_DATA_KEY_FILE),
      ...(process.env.BULWARK_DATA_KEY_PREVIOUS_FILES ?? "").split(",").filter(Boolean),
    ];
    await withStores(flags, (stores) => {
      stores.audit.append("cli", "data_key.rotated", next.current.id, {
        previous: ring.current.id,
      });
    });
    console.log(`new data key ${next.current.id} written to ${out} (mode 0600)`);
    console.log(`previous key ${ring.current.id} keeps opening what it sealed. Restart with:`);
    console.log(`  BULWARK_DATA_KEY_FILE=${out}`);
    console.log(`  BULWARK_DATA_KEY_PREVIOUS_FILES=${previous.join(",")}`);
    console.log(
      "then re-encrypt what the previous key sealed: `bulwark keys reseal` with the same two " +
        "variables (the gateways also do it in the background); drop the previous file once it " +
        "says done.",
    );
  });

  storeOptions(
    keys
      .command("reseal")
      .description(
        "Re-encrypt with the current data key (BULWARK_DATA_KEY_FILE) every value sealed with a " +
          "previous one (BULWARK_DATA_KEY_PREVIOUS_FILES): this home's batch files (those of " +
          "running batches are left for a later run), then the response cache's Redis tier in " +
          "batches; with progress, and an interrupted run resumes where it stopped.",
      )
      .option("--batch <n>", "values per batch (default 200)", parseCount("batch"), 200)
      .option(
        "--batches <n>",
        "stop after this many batches; the next run resumes",
        parseCount("batches"),
      )
      .option("--json", "print the final counts as JSON"),
  ).action(async (flags: StoreFlags & { batch: number; batches?: number; json?: boolean }) => {
    const ring = envKeyring();
    if (!ring) throw new CliError("set BULWARK_DATA_KEY_FILE to the current (new) key's file");
    const config = loadConfig({ file: flags.config, overrides: { home: flags.home } });
    const files = await resealFiles(config, ring);
    const tier =
      config.state.backend === "redis" && config.cache.enabled && config.cache.redis
        ? await resealCacheTier(config, ring, flags)
        : undefined;
    // --json: the cache tier's state (when there is a tier) with the batch files' counts.
    if (flags.json) console.log(JSON.stringify(tier ? { ...tier, files } : { files }, null, 2));
    else {
      console.log(
        `batch files: ${files.resealedFiles} of ${files.files} resealed (${files.resealedLines} ` +
          `lines), ${files.busy} of running batches left for a later run, ` +
          `${files.unreadable} unreadable lines`,
      );
    }
    if (files.unreadable > 0 || files.busy > 0) process.exitCode = 1;
    if (!tier) {
      if (!flags.json)
        console.log("cache tier: none (state.backend redis with cache.redis has one)");
      return;
    }
    if (!flags.json) {
      console.log(
        `${tier.done ? "done" : "stopped"}: ${tier.resealed} resealed, ${tier.unchanged} ` +
          `unchanged, ${tier.unreadable} unreadable, of ${tier.scanned} values`,
      );
      if (tier.done && tier.unreadable === 0 && ring.previousIds().length > 0) {
        console.log(
          `nothing sealed with ${ring.previousIds().join(", ")} is left in the cache tier: ` +
            "their files may leave BULWARK_DATA_KEY_PREVIOUS_FILES",
        );
      } else if (!tier.done) console.log("run it again to go on from here");
    }
    if (tier.unreadable > 0) process.exitCode = 1;
  });
}

/**
 * Reseals the batch files of this home, one file at a time with a line of progress, leaving
 * out the result files of batches still running (a later run takes them).
 */
async function resealFiles(config: Readonly<Config>, ring: Keyring): Promise<FileResealCounts> {
  const { BatchLedger, UNFINISHED, resealBatchFiles } = await import("../batch/index.js");
  const { openDatabase, storePath } = await import("../store/index.js");
  const db = openDatabase(storePath(config.home));
  let busy: Set<string>;
  try {
    busy = new Set(
      new BatchLedger(db).batchesIn(UNFINISHED).flatMap((b) => [b.output_file_id, b.error_file_id]),
    );
  } finally {
    db.close();
  }
  const bar = progressDisplay(`reseal batch files to ${ring.current.id}`, "items");
  try {
    return await resealBatchFiles(join(config.home, "files"), ring, busy, (c, total) =>
      bar.update(c.files, total, { failed: c.unreadable, detail: `${c.resealedFiles} resealed` }),
    );
  } finally {
    bar.end();
  }
}

/** Reseals the response cache's Redis tier of the configured fleet. */
async function resealCacheTier(
  config: Readonly<Config>,
  ring: Keyring,
  flags: { batch: number; batches?: number },
): Promise<ResealState> {
  const s = config.state;
  const { cacheTierCheckpoint, cacheTierCollection } = await import("../cache/index.js");
  // A maintenance command, not a request: a batch may take longer than a request's bound.
  const redis = await commandRedis(config, 5_000);
  try {
    if (!(await redis.waitConnected(s.connectTimeoutMs))) {
      throw new CliError(`cannot reach Redis at ${redisShown(config)}`, 1);
    }
    const total = await redis.run((c) => c.dbsize());
    const bar = progressDisplay(`reseal to ${ring.current.id}`, "items");
    let stop = false;
    const onSignal = () => (stop = true);
    process.once("SIGINT", onSignal);
    try {
      return await resealAll(cacheTierCollection(redis), ring, {
        batch: flags.batch,
        maxBatches: flags.batches,
        checkpoint: cacheTierCheckpoint(redis),
        stopped: () => stop,
        onProgress: (p) =>
          bar.update(p.done ? Math.max(p.scanned, total) : Math.min(p.scanned, total), total, {
            failed: p.unreadable,
            detail: `${p.resealed} resealed`,
          }),
      });
    } finally {
      bar.end();
      process.off("SIGINT", onSignal);
    }
  } finally {
    await redis.close();
  }
}
