/** `bulwark incident lockdown [--keep-admin] | release | status`: the security-incident runbook. */
import type { Command } from "commander";
import { BulwarkError } from "../errors/index.js";
import { incidentService } from "../admin/index.js";
import { CliError } from "./cli-error.js";
import { storeOptions, withStores, type StoreFlags } from "./store-access.js";

const ACTOR = "cli";

export function registerIncident(program: Command): void {
  const incident = program
    .command("incident")
    .description("Security incident: lock the server down with evidence, and release it.");

  storeOptions(
    incident
      .command("lockdown")
      .description(
        "Refuse every request with 503 maintenance (a running server within a second), " +
          "suspending every key; collect logs, audit log, bans, keys and config into " +
          "<home>/incidents/<time>/ with SHA256SUMS; audit it.",
      )
      .option("--keep-admin", "admin keys keep the admin API (to investigate and release)")
      .option("--reason <text>", "why, for the audit log", ""),
  ).action(async (flags: StoreFlags & { keepAdmin?: boolean; reason: string }) => {
    await withStores(flags, (stores, config) => {
      try {
        const l = incidentService(config, stores).lockdown(ACTOR, {
          keepAdmin: flags.keepAdmin === true,
          reason: flags.reason,
        });
        console.log(`locked down at ${new Date(l.startedAt).toISOString()}`);
        console.log(`admin keys: ${l.keepAdmin ? "kept (admin API only)" : "suspended too"}`);
        console.log(`evidence: ${l.evidenceDir} (check with: sha256sum -c SHA256SUMS)`);
      } catch (err) {
        if (err instanceof BulwarkError) throw new CliError(`${err.code}: ${err.message}`);
        throw err;
      }
    });
  });

  storeOptions(
    incident.command("release").description("End the lockdown; keys work again; audited."),
  ).action(async (flags: StoreFlags) => {
    await withStores(flags, (stores, config) => {
      try {
        const was = incidentService(config, stores).release(ACTOR);
        console.log(`released the lockdown of ${new Date(was.startedAt).toISOString()}`);
      } catch (err) {
        if (err instanceof BulwarkError) throw new CliError(`${err.code}: ${err.message}`);
        throw err;
      }
    });
  });

  storeOptions(incident.command("status").description("Whether a lockdown is in force.")).action(
    async (flags: StoreFlags) => {
      await withStores(flags, (stores, config) => {
        const l = incidentService(config, stores).status();
        console.log(
          l
            ? `locked down since ${new Date(l.startedAt).toISOString()} by ${l.actor}; evidence ${l.evidenceDir}`
            : "no lockdown in force",
        );
      });
    },
  );
}
