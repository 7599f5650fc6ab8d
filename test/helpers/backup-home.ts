/** A Bulwark home with state in every store, for backup tests. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig, type Config } from "../../src/config/index.js";
import { openStores, CLI_ACTOR, type Stores } from "../../src/admin/index.js";
import { openRegistry, type Registry } from "../../src/registry/index.js";
import { tempDir, tinyGguf } from "./model-files.js";

export interface StatefulHome {
  root: string;
  home: string;
  config: Readonly<Config>;
  stores: Stores;
  registry: Registry;
  /** Closes the stores and the registry (the files stay). */
  close(): void;
}

/** A home config with registry validation by header only and no automatic model copies. */
export function homeConfig(home: string, extra: Record<string, unknown> = {}): Readonly<Config> {
  return loadConfig({
    env: {},
    overrides: {
      home,
      registry: { validateOnImport: "header", backupsToKeep: 0 },
      ...extra,
    },
  });
}

/** Keys, a ban, usage rows, audit entries, two registry versions and a batch file. */
export async function statefulHome(): Promise<StatefulHome> {
  const root = tempDir("bulwark-backup-");
  const home = join(root, "home");
  const config = homeConfig(home);
  const stores = openStores(config);
  stores.keyService.create(CLI_ACTOR, { name: "alice", role: "user" });
  stores.keyService.create(CLI_ACTOR, { name: "ops", role: "operator" });
  stores.banService.add(CLI_ACTOR, "10.1.2.3", null, "manual");
  stores.usage.record({
    keyId: "k1",
    model: "m",
    at: Date.now(),
    error: false,
    promptTokens: 5,
    completionTokens: 7,
  });
  const registry = openRegistry(config);
  const gguf = join(root, "tiny.gguf");
  writeFileSync(gguf, tinyGguf());
  await registry.import(gguf, { name: "tiny" });
  await registry.import(gguf, { name: "tiny", version: "2" });
  mkdirSync(join(home, "batches"), { recursive: true });
  writeFileSync(join(home, "batches", "batch_1.jsonl"), '{"custom_id":"a"}\n');
  return {
    root,
    home,
    config,
    stores,
    registry,
    close() {
      stores.db.close();
      registry.close();
    },
  };
}

/** Everything a restore must bring back, read through the product's own stores. */
export function stateOf(config: Readonly<Config>) {
  const stores = openStores(config);
  const registry = openRegistry(config);
  try {
    return {
      keys: stores.keys.list(),
      bans: stores.bans.list(),
      usage: stores.usage.query(),
      audit: stores.audit.entries(),
      auditVerify: stores.audit.verify(),
      registry: registry.list().map((v) => ({ ...v, backedUp: undefined })),
    };
  } finally {
    stores.db.close();
    registry.close();
  }
}
