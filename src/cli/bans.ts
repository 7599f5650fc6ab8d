/** `bulwark bans …`: list, add and lift IP bans in the local store. */
import type { Command } from "commander";
import { CLI_ACTOR } from "../admin/index.js";
import { CliError } from "./cli-error.js";
import { isoOrDash, storeOptions, table, withStores, type StoreFlags } from "./store-access.js";

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

function parseDuration(value: string): number {
  const m = /^(\d+)([smhd])$/.exec(value.trim());
  if (!m || Number(m[1]) === 0)
    throw new CliError(`--duration must look like 30m, 12h or 7d, got "${value}"`, 2);
  return Number(m[1]) * UNITS[m[2]!]!;
}

export function registerBans(program: Command): void {
  const bans = program.command("bans").description("List, add and lift IP bans.");

  storeOptions(
    bans.command("list").description("Bans in force.").option("--json", "as JSON"),
  ).action(async (flags: StoreFlags & { json?: boolean }) => {
    await withStores(flags, (stores) => {
      const list = stores.banService.list();
      if (flags.json) console.log(JSON.stringify(list, null, 2));
      else if (list.length === 0) console.log("No bans in force.");
      else {
        console.log(
          table(
            list.map((b) => ({
              ip: b.ip,
              reason: b.reason,
              source: b.source,
              since: isoOrDash(b.createdAt),
              until: b.expiresAt ? isoOrDash(b.expiresAt) : "lifted by hand",
              offences: b.offences,
            })),
            ["ip", "reason", "source", "since", "until", "offences"],
          ),
        );
      }
    });
  });

  storeOptions(
    bans
      .command("add <ip>")
      .description("Ban an address.")
      .option("--duration <d>", "how long: 30m, 12h, 7d (default: until lifted)", parseDuration)
      .option("--reason <text>", "why (kept in the audit log)", "manual"),
  ).action(async (ip: string, flags: StoreFlags & { duration?: number; reason: string }) => {
    await withStores(flags, (stores) => {
      const ban = stores.banService.add(CLI_ACTOR, ip, flags.duration ?? null, flags.reason);
      console.log(
        `Banned ${ban.ip} ${ban.expiresAt ? `until ${isoOrDash(ban.expiresAt)}` : "until lifted"}.`,
      );
    });
  });

  storeOptions(
    bans.command("remove <ip>").alias("lift").description("Lift the ban on an address."),
  ).action(async (ip: string, flags: StoreFlags) => {
    await withStores(flags, (stores) => {
      stores.banService.lift(CLI_ACTOR, ip);
      console.log(`Lifted the ban on ${ip}.`);
    });
  });
}
