/**
 * `bulwark keys rotate-data-key --out FILE`: a new data key in FILE (0600), the steps to put it
 * in force, and an audit entry. Values sealed with the old key keep opening while the old file
 * is listed in BULWARK_DATA_KEY_PREVIOUS_FILES; their owners reseal them as they rewrite them.
 */
import type { Command } from "commander";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { Keyring } from "../crypto/index.js";
import { BulwarkError } from "../errors/index.js";
import { CliError } from "./cli-error.js";
import { storeOptions, withStores, type StoreFlags } from "./store-access.js";

export function registerRotateDataKey(keys: Command): void {
  storeOptions(
    keys
      .command("rotate-data-key")
      .description(
        "Write a new data key (AES-256) to --out and print how to put it in force; the current " +
          "key (BULWARK_DATA_KEY_FILE) becomes a previous key that still opens what it sealed.",
      )
      .requiredOption("--out <file>", "where to write the new key (created, mode 0600)"),
  ).action(async (flags: StoreFlags & { out: string }) => {
    let ring: Keyring | undefined;
    try {
      ring = Keyring.fromEnv();
    } catch (err) {
      if (err instanceof BulwarkError) throw new CliError(`${err.code}: ${err.message}`);
      throw err;
    }
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
  });
}
