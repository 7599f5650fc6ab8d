/** `bulwark audit verify|export` and `bulwark usage`. */
import type { Command } from "commander";
import { writeFileSync } from "node:fs";
import { summarize, type UsageQuery, type UsageRow, type UsageScope } from "../audit/index.js";
import type { Config } from "../config/index.js";
import type { Stores } from "../admin/index.js";
import { CliError } from "./cli-error.js";
import { commandRedis, storeOptions, table, withStores, type StoreFlags } from "./store-access.js";

const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;

function day(name: string) {
  return (value: string): string => {
    if (!DAY_RE.test(value)) throw new CliError(`--${name} must be a date as YYYY-MM-DD`, 2);
    return value;
  };
}

export function registerAudit(program: Command): void {
  const audit = program
    .command("audit")
    .description("Check and export the hash-chained audit log.");

  storeOptions(
    audit
      .command("verify")
      .argument("[homes...]", "home directories of the instances to check, one chain each")
      .description(
        "Check the chain of the configured home, or of each instance's home given; names the " +
          "first bad entry and counts the entries each instance wrote.",
      ),
  ).action(async (homes: string[], flags: StoreFlags) => {
    const list = homes.length > 0 ? homes : [flags.home];
    for (const home of list) {
      const where = homes.length > 0 ? `${home}: ` : "";
      await withStores({ ...flags, home }, (stores) => {
        const result = stores.audit.verify();
        if (result.ok) {
          const by = Object.entries(result.instances ?? {})
            .filter(([name]) => name !== "-")
            .map(([name, n]) => `${name} ${n}`);
          const writers = by.length > 0 ? ` (by instance: ${by.join(", ")})` : "";
          console.log(`${where}audit log intact: ${result.entries} entries${writers}`);
          return;
        }
        console.error(
          `${where}audit log TAMPERED at entry ${result.firstBad!.seq}: ${result.firstBad!.reason}`,
        );
        process.exitCode = 1;
      });
    }
  });

  storeOptions(
    audit
      .command("export")
      .description("Export the audit log as JSON lines.")
      .option("-o, --out <file>", "write to a file instead of stdout"),
  ).action(async (flags: StoreFlags & { out?: string }) => {
    await withStores(flags, (stores) => {
      const lines = stores.audit.entries().map((e) => JSON.stringify(e));
      if (flags.out) {
        writeFileSync(flags.out, lines.join("\n") + (lines.length ? "\n" : ""), { mode: 0o600 });
        console.error(`exported ${lines.length} entries to ${flags.out}`);
      } else if (lines.length > 0) console.log(lines.join("\n"));
    });
  });
}

/**
 * The rows of a usage query: with state.backend redis, the fleet's (every home's rows in Redis),
 * unless `local`; this home's when Redis does not answer, which the scope says.
 */
async function usageRows(
  config: Readonly<Config>,
  stores: Stores,
  q: UsageQuery,
  local: boolean,
): Promise<{ rows: UsageRow[]; scope: UsageScope }> {
  if (local || config.state.backend !== "redis") {
    return { rows: stores.usage.query(q), scope: "instance" };
  }
  const { FleetUsage } = await import("../store/redis/index.js");
  const s = config.state;
  const redis = await commandRedis(config);
  try {
    await redis.waitConnected(s.connectTimeoutMs);
    // Reads only: nothing is sent from here (the serving instances send their rows).
    return await new FleetUsage(redis, stores.usage, { flushIntervalMs: s.syncIntervalMs }).query(
      q,
    );
  } finally {
    await redis.close();
  }
}

export function registerUsage(program: Command): void {
  storeOptions(
    program
      .command("usage")
      .description(
        "Per-key usage: requests, tokens and errors, by model and by day; with state.backend " +
          "redis, the whole fleet's.",
      )
      .option("--key <id>", "only this key")
      .option("--since <date>", "from this UTC day (YYYY-MM-DD)", day("since"))
      .option("--until <date>", "to this UTC day, inclusive", day("until"))
      .option("--local", "this home's usage only, even with state.backend redis")
      .option("--json", "as JSON"),
  ).action(
    async (
      flags: StoreFlags & {
        key?: string;
        since?: string;
        until?: string;
        local?: boolean;
        json?: boolean;
      },
    ) => {
      await withStores(flags, async (stores, config) => {
        const { rows, scope } = await usageRows(
          config,
          stores,
          { keyId: flags.key, since: flags.since, until: flags.until },
          flags.local ?? false,
        );
        if (flags.json) {
          console.log(JSON.stringify(summarize(rows, scope), null, 2));
          return;
        }
        if (scope === "instance" && config.state.backend === "redis" && !flags.local) {
          console.error("bulwark: Redis did not answer: this home's usage only");
        }
        if (rows.length === 0) {
          console.log("No usage recorded for this selection.");
          return;
        }
        console.log(
          table(
            rows.map((r) => ({
              day: r.day,
              key: r.keyId,
              model: r.model,
              requests: r.requests,
              errors: r.errors,
              prompt: r.promptTokens,
              completion: r.completionTokens,
              total: r.promptTokens + r.completionTokens,
            })),
            ["day", "key", "model", "requests", "errors", "prompt", "completion", "total"],
          ),
        );
      });
    },
  );
}
