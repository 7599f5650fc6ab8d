/** Ban operations with their audit entries, shared by the admin API and `bulwark bans`. */
import { BulwarkError } from "../errors/index.js";
import { normalizeIp, type Ban, type BanStore } from "../netfilter/index.js";
import type { AuditLog } from "../audit/index.js";
import type { Actor } from "./key-service.js";

export class BanService {
  constructor(
    readonly bans: BanStore,
    private readonly audit: AuditLog,
  ) {}

  add(actor: Actor, rawIp: string, durationMs: number | null, reason: string): Ban {
    const ip = normalizeIp(rawIp);
    if (!ip)
      throw new BulwarkError("invalid_request", `Not an IP address: "${rawIp}".`, { param: "ip" });
    const ban = this.bans.add(ip, reason, actor.id, durationMs);
    this.audit.append(actor.id, "ban.added", ip, { reason, expiresAt: ban.expiresAt });
    return ban;
  }

  lift(actor: Actor, rawIp: string): void {
    const ip = normalizeIp(rawIp) ?? rawIp;
    if (!this.bans.lift(ip)) throw new BulwarkError("ban_not_found", `No ban in force on ${ip}.`);
    this.audit.append(actor.id, "ban.lifted", ip, {});
  }

  list(): Ban[] {
    return this.bans.list();
  }
}
