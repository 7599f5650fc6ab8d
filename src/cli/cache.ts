/**
 * `bulwark cache …`: the running server's response cache through its admin API (stats, clear),
 * and a key's cache settings in the local store (like `bulwark keys`).
 */
import type { Command } from "commander";
import { KeyCacheStore, type CacheStats } from "../cache/index.js";
import { CliError } from "./cli-error.js";
import { storeOptions, withStores, type StoreFlags } from "./store-access.js";
import { adminOptions, callAdmin as admin, type AdminFlags } from "./admin-client.js";

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MiB`;

export function registerCache(program: Command): void {
  const cache = program
    .command("cache")
    .description("The response cache: statistics, clearing, and each key's cache settings.");

  adminOptions(
    cache.command("stats").description("Entries and bytes in the running server's cache."),
  ).action(async (flags: AdminFlags) => {
    const s = await admin<{ enabled: boolean } & CacheStats>(flags, "GET", "/admin/cache");
    if (flags.json) console.log(JSON.stringify(s, null, 2));
    else if (!s.enabled) console.log("The response cache is off (cache.enabled).");
    else {
      console.log(
        `entries ${s.entries}, ${mib(s.bytes)} of ${mib(s.maxBytes)}, ${s.inFlight} generating`,
      );
    }
  });

  adminOptions(
    cache
      .command("clear")
      .description(
        "Remove entries from the running server's cache: all, one model's or one namespace's.",
      )
      .option("--model <name>", "only this served model's entries")
      .option("--namespace <ns>", "only this namespace's entries"),
  ).action(async (flags: AdminFlags & { model?: string; namespace?: string }) => {
    const query = new URLSearchParams();
    if (flags.model) query.set("model", flags.model);
    if (flags.namespace) query.set("namespace", flags.namespace);
    const q = query.toString();
    const r = await admin<{ removed: number }>(flags, "DELETE", `/admin/cache${q ? `?${q}` : ""}`);
    if (flags.json) console.log(JSON.stringify(r, null, 2));
    else console.log(`Removed ${r.removed} entr${r.removed === 1 ? "y" : "ies"}.`);
  });

  storeOptions(
    cache
      .command("key <id>")
      .description("Show or change a key's cache settings (in the local store).")
      .option("--mode <mode>", "on, off or read-only")
      .option("--namespace <ns>", "share entries with the keys of this namespace ('' for its own)")
      .option(
        "--semantic-model <name>",
        "turn the semantic cache on with this embedding model ('' turns it off)",
      )
      .option("--semantic-threshold <t>", "cosine similarity a close question needs, 0..1", "0.95")
      .option("--json", "print the settings as JSON"),
  ).action(
    async (
      id: string,
      flags: StoreFlags & {
        mode?: string;
        namespace?: string;
        semanticModel?: string;
        semanticThreshold: string;
        json?: boolean;
      },
    ) => {
      await withStores(flags, (stores) => {
        if (!stores.keys.get(id)) throw new CliError(`No API key with id "${id}".`, 1);
        const settings = new KeyCacheStore(stores.db);
        const change: Record<string, unknown> = {};
        if (flags.mode !== undefined) change.mode = flags.mode;
        if (flags.semanticModel !== undefined) {
          change.semantic =
            flags.semanticModel === ""
              ? null
              : { model: flags.semanticModel, threshold: Number(flags.semanticThreshold) };
        }
        if (flags.namespace !== undefined)
          change.namespace = flags.namespace === "" ? null : flags.namespace;
        const now = Object.keys(change).length > 0 ? settings.update(id, change) : settings.get(id);
        if (flags.json) console.log(JSON.stringify({ id, ...now }, null, 2));
        else {
          console.log(
            `key ${id}: mode ${now.mode}, namespace ${now.namespace ?? "(its own)"}` +
              (now.semantic ? `, semantic ${now.semantic.model} ≥ ${now.semantic.threshold}` : ""),
          );
        }
      });
    },
  );
}
