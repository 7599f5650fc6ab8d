/**
 * Opens the store of the configured home for the administrative commands (keys, bans, audit,
 * usage). They work on the same SQLite file as a running server (WAL mode), so a revocation
 * or a ban takes effect on the server's next request; with state.backend redis, on every
 * gateway of the fleet.
 */
import { hostname } from "node:os";
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

/** The Redis URL without its credentials, for messages. */
export function redisShown(config: Readonly<Config>): string {
  return config.state.redisUrl.replace(/\/\/[^@/]*@/, "//");
}

function load(flags: StoreFlags): Readonly<Config> {
  return loadConfig({ file: flags.config, overrides: { home: flags.home } });
}

/**
 * Runs `fn` with the stores open and closes them. With state.backend redis, the key and ban
 * changes `fn` makes are also sent to the fleet (every other gateway applies them within a
 * second); a change Redis did not take is reported, since only this home has it then.
 */
export async function withStores<T>(
  flags: StoreFlags,
  fn: (stores: Stores, config: Readonly<Config>) => T | Promise<T>,
): Promise<T> {
  const config = load(flags);
  const stores = openStores(config);
  const fleet = config.state.backend === "redis" ? await fleetFeed(config, stores) : undefined;
  try {
    return await fn(stores, config);
  } finally {
    if (fleet && !(await fleet.flush())) {
      console.error(
        `bulwark: Redis (${redisShown(config)}) did not take the ` +
          "change: it holds in this home only; repeat it when Redis is back",
      );
      process.exitCode = 1;
    }
    await fleet?.close();
    stores.db.close();
  }
}

/** The change feed to the fleet's Redis, for the changes of one command. */
async function fleetFeed(config: Readonly<Config>, stores: Stores) {
  const { RecordFeed } = await import("../store/redis/index.js");
  const { banDropAfter } = await import("../netfilter/index.js");
  const s = config.state;
  const redis = await commandRedis(config);
  await redis.waitConnected(s.connectTimeoutMs);
  const feed = new RecordFeed(redis, {
    instance: `cli@${hostname()}:${process.pid}`,
    syncIntervalMs: s.syncIntervalMs,
    apply: () => undefined,
  });
  stores.keys.onChange = (id) => feed.put("key", id, stores.keys.replica(id));
  stores.bans.onChange = (ip) => {
    const ban = stores.bans.replica(ip);
    feed.put("ban", ip, ban, banDropAfter(ban));
  };
  return {
    flush: () => feed.flush(),
    close: async () => {
      await feed.close();
      await redis.close();
    },
  };
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

/**
 * A connection to the fleet's Redis for one command. A command is not a request: it may wait
 * for a slow Redis longer than a request's bound (at least `minCommandTimeoutMs`, 1 s).
 */
export async function commandRedis(config: Readonly<Config>, minCommandTimeoutMs = 1_000) {
  const { RedisConnection } = await import("../store/redis/index.js");
  const s = config.state;
  return new RedisConnection({
    url: s.redisUrl,
    keyPrefix: s.keyPrefix,
    commandTimeoutMs: Math.max(s.commandTimeoutMs, minCommandTimeoutMs),
    connectTimeoutMs: s.connectTimeoutMs,
    breakerFailures: s.breakerFailures,
    breakerCooldownMs: s.breakerCooldownMs,
  });
}
