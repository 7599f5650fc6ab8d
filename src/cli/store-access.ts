/**
 * Opens the store of the configured home for the administrative commands (keys, bans, audit,
 * usage). They work on the same SQLite file as a running server (WAL mode), so a revocation
 * or a ban takes effect on the server's next request.
 */
import type { Command } from "commander";
import { loadConfig, type Config } from "../config/index.js";
import { openStores, type Stores } from "../admin/index.js";
import { CliError } from "./cli-error.js";

export interface StoreFlags {
  config?: string;
  home?: string;
}

/** Adds --config and --home to a command. */
export function storeOptions(cmd: Command): Command {
  return cmd
    .option("-c, --config <file>", "config file (default: $BULWARK_CONFIG, else ./bulwark.yaml)")
    .option("--home <dir>", "Bulwark home directory (default: config home, ~/.bulwark)");
}

function load(flags: StoreFlags): Readonly<Config> {
  return loadConfig({ file: flags.config, overrides: { home: flags.home } });
}

/** Runs `fn` with the stores open and closes them. */
export async function withStores<T>(
  flags: StoreFlags,
  fn: (stores: Stores, config: Readonly<Config>) => T | Promise<T>,
): Promise<T> {
  const config = load(flags);
  const stores = openStores(config);
  try {
    return await fn(stores, config);
  } finally {
    stores.db.close();
  }
}

export function parseCount(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) {
      throw new CliError(`--${name} must be an integer >= 0, got "${value}"`, 2);
    }
    return n;
  };
}

export const parseList = (value: string): string[] =>
  value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

/** A plain table for terminals. */
export function table(rows: Record<string, unknown>[], columns: string[]): string {
  const cells = rows.map((r) =>
    columns.map((c) => (r[c] === undefined || r[c] === null ? "-" : String(r[c]))),
  );
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  return [line(columns), ...cells.map(line)].join("\n");
}

export const isoOrDash = (ms: number | null | undefined) => (ms ? new Date(ms).toISOString() : "-");
