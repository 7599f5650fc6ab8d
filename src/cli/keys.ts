/** `bulwark keys …`: create, list, revoke, rotate and re-role API keys in the local store. */
import type { Command } from "commander";
import { generateKey, isRole, toNewKey, UNPRINTABLE, type KeyRecord } from "../auth/index.js";
import { CLI_ACTOR } from "../admin/index.js";
import { CliError } from "./cli-error.js";
import { registerRotateDataKey } from "./data-key.js";
import {
  isoOrDash,
  parseCount,
  parseList,
  storeOptions,
  table,
  withStores,
  type StoreFlags,
} from "./store-access.js";

interface CreateFlags extends StoreFlags {
  name: string;
  role: string;
  rpm?: number;
  tpm?: number;
  concurrency?: number;
  budget?: number;
  models?: string[];
  ips?: string[];
  expires?: string;
  mask?: string;
  json?: boolean;
}

/** A stored text as a terminal may print it: control characters shown as escapes. */
function printable(text: string): string {
  return text.replace(new RegExp(UNPRINTABLE.source, "gu"), (c) =>
    c.length === 1 && c.charCodeAt(0) < 0x100
      ? `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`
      : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

function row(k: KeyRecord): Record<string, unknown> {
  const status = k.revokedAt
    ? "revoked"
    : k.expiresAt && k.expiresAt <= Date.now()
      ? "expired"
      : "active";
  return {
    id: k.id,
    // A name stored before names were checked may still hold control characters.
    name: printable(k.name),
    role: k.role,
    status,
    rpm: k.rpm || "∞",
    tpm: k.tpm || "∞",
    conc: k.concurrency || "∞",
    budget: k.dailyBudget || "∞",
    models: printable(k.models.join(",")) || "all",
    expires: isoOrDash(k.expiresAt),
    lastUsed: isoOrDash(k.lastUsedAt),
  };
}

function printKey(key: string, record: KeyRecord, json: boolean | undefined, what: string): void {
  if (json) {
    console.log(JSON.stringify({ key, ...record }));
    return;
  }
  console.log(`${what} key ${record.id} (${printable(record.name)}, ${record.role}).`);
  console.log("It is shown this once; store it now:\n");
  console.log(`  ${key}\n`);
}

export function registerKeys(program: Command): void {
  const keys = program
    .command("keys")
    .description("Manage API keys (admin, operator, user, auditor).");
  registerRotateDataKey(keys);

  storeOptions(
    keys
      .command("create")
      .description("Create a key and print it once.")
      .requiredOption("--name <name>", "a name for the key's owner or purpose")
      .requiredOption("--role <role>", "admin, operator, user or auditor")
      .option("--rpm <n>", "requests per minute (0: unlimited)", parseCount("rpm"))
      .option("--tpm <n>", "tokens per minute (0: unlimited)", parseCount("tpm"))
      .option("--concurrency <n>", "requests in flight (0: unlimited)", parseCount("concurrency"))
      .option("--budget <n>", "tokens per UTC day (0: unlimited)", parseCount("budget"))
      .option("--models <list>", "comma-separated models the key may use (default: all)", parseList)
      .option("--ips <list>", "comma-separated CIDRs the key may be used from", parseList)
      .option("--expires <when>", "expiry: a duration (30d, 12h, 90m) or an ISO date")
      .option("--mask <policy>", "none, prompt, prompt+output or reversible (default none)")
      .option("--json", "print the key and its record as JSON"),
  ).action(async (flags: CreateFlags) => {
    if (!isRole(flags.role))
      throw new CliError(`--role must be admin, operator, user or auditor`, 2);
    await withStores(flags, (stores, config) => {
      const input = toNewKey(
        {
          name: flags.name,
          role: flags.role,
          rpm: flags.rpm,
          tpm: flags.tpm,
          concurrency: flags.concurrency,
          dailyBudget: flags.budget,
          models: flags.models,
          ips: flags.ips,
          expires: flags.expires,
          mask: flags.mask,
        },
        config.rateLimits.keyDefaults,
        Date.now(),
      );
      const made = stores.keyService.create(CLI_ACTOR, input);
      printKey(made.key, made.record, flags.json, "Created");
    });
  });

  storeOptions(
    keys
      .command("list")
      .description("List keys (never their secrets).")
      .option("--json", "as JSON"),
  ).action(async (flags: StoreFlags & { json?: boolean }) => {
    await withStores(flags, (stores) => {
      const list = stores.keys.list();
      if (flags.json) console.log(JSON.stringify(list, null, 2));
      else if (list.length === 0) console.log("No keys. Create one with `bulwark keys create`.");
      else console.log(table(list.map(row), Object.keys(row(list[0]!))));
    });
  });

  storeOptions(keys.command("revoke <id>").description("Revoke a key at once.")).action(
    async (id: string, flags: StoreFlags) => {
      await withStores(flags, (stores) => {
        stores.keyService.revoke(CLI_ACTOR, id);
        console.log(`Revoked key ${id}.`);
      });
    },
  );

  storeOptions(
    keys
      .command("rotate <id>")
      .description("Give a key a new secret; the old one works for security.keyRotationGraceMs.")
      .option("--json", "print the new key and its record as JSON"),
  ).action(async (id: string, flags: StoreFlags & { json?: boolean }) => {
    await withStores(flags, (stores, config) => {
      const rotated = stores.keyService.rotate(CLI_ACTOR, id);
      printKey(rotated.key, rotated.record, flags.json, "Rotated");
      if (!flags.json) {
        console.log(
          `The old secret keeps working until ${isoOrDash(rotated.record.previousValidUntil)}` +
            ` (${config.security.keyRotationGraceMs} ms).`,
        );
      }
    });
  });

  storeOptions(keys.command("set-role <id> <role>").description("Change a key's role.")).action(
    async (id: string, role: string, flags: StoreFlags) => {
      if (!isRole(role)) throw new CliError("role must be admin, operator, user or auditor", 2);
      await withStores(flags, (stores) => {
        stores.keyService.setRole(CLI_ACTOR, id, role);
        console.log(`Key ${id} is now ${role}.`);
      });
    },
  );

  keys
    .command("generate")
    .description("Print a new key without storing it (for BULWARK_ADMIN_KEY on a first start).")
    .action(() => {
      console.log(generateKey().full);
    });
}
