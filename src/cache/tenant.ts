/** Whose entries a request reads and writes: never another key's unless they share a namespace. */
import type { KeyRecord } from "../auth/index.js";
import type { KeyCacheSettings } from "./key-settings.js";
import type { Tenant } from "./key.js";

/**
 * The key's namespace when it has one, else the key itself; with auth off, one public tenant.
 * A key with reversible masking always has its own: its answers hold placeholders that only
 * its own requests' vaults give meaning to, and it must never read another key's answers.
 */
export function tenantOf(
  key: Pick<KeyRecord, "id" | "mask"> | undefined,
  settings: KeyCacheSettings,
): Tenant {
  if (!key) return { id: "public" };
  if (key.mask === "reversible" || settings.namespace === null) return { id: `key:${key.id}` };
  return { id: `ns:${settings.namespace}` };
}

/** The tenant id of a namespace, for clearing by namespace. */
export function namespaceTenant(namespace: string): string {
  return `ns:${namespace}`;
}
