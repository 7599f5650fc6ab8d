/** Key operations with their audit entries, shared by the admin API and `bulwark keys`. */
import { BulwarkError } from "../errors/index.js";
import {
  can,
  publicKey,
  type KeyRecord,
  type KeyStore,
  type NewKey,
  type Role,
} from "../auth/index.js";
import type { AuditLog } from "../audit/index.js";

/** Who acts: a key (admin API) or the local CLI (which has the store file, so full rights). */
export interface Actor {
  id: string;
  role: Role;
}

export const CLI_ACTOR: Actor = { id: "cli", role: "admin" };

const privileged = (role: Role) => role === "admin" || role === "operator";

export class KeyService {
  constructor(
    readonly keys: KeyStore,
    private readonly audit: AuditLog,
    private readonly graceMs: number,
  ) {}

  private mayManage(actor: Actor, role: Role): void {
    if (privileged(role) && !can(actor.role, "keys.admin")) {
      throw new BulwarkError("permission_denied", `Only an admin may manage ${role} keys.`);
    }
  }

  /** The key without its digests: what is returned to callers (it was the stored row). */
  private existing(id: string): KeyRecord {
    const key = this.keys.get(id);
    if (!key) throw new BulwarkError("key_not_found", `No API key with id "${id}".`);
    return publicKey(key);
  }

  create(actor: Actor, input: NewKey, fullKey?: string): { key: string; record: KeyRecord } {
    this.mayManage(actor, input.role);
    const made = this.keys.create(input, fullKey);
    this.audit.append(actor.id, "key.created", made.record.id, {
      name: input.name,
      role: input.role,
      models: input.models,
      rpm: input.rpm,
      tpm: input.tpm,
      concurrency: input.concurrency,
      dailyBudget: input.dailyBudget,
      expiresAt: input.expiresAt,
      ips: input.ips,
      mask: input.mask,
    });
    return made;
  }

  revoke(actor: Actor, id: string): KeyRecord {
    const key = this.existing(id);
    this.mayManage(actor, key.role);
    if (this.keys.revoke(id)) this.audit.append(actor.id, "key.revoked", id, { name: key.name });
    return this.existing(id);
  }

  rotate(actor: Actor, id: string): { key: string; record: KeyRecord } {
    const key = this.existing(id);
    this.mayManage(actor, key.role);
    const rotated = this.keys.rotate(id, this.graceMs);
    if (!rotated) throw new BulwarkError("key_revoked", "A revoked key cannot be rotated.");
    this.audit.append(actor.id, "key.rotated", id, { graceMs: this.graceMs });
    return rotated;
  }

  setRole(actor: Actor, id: string, role: Role): KeyRecord {
    const key = this.existing(id);
    this.mayManage(actor, key.role);
    this.mayManage(actor, role);
    const before = this.keys.setRole(id, role);
    this.audit.append(actor.id, "key.role_changed", id, { from: before, to: role });
    return this.existing(id);
  }
}
