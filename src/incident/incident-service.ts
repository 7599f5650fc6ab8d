/**
 * The security-incident runbook in code: lockdown (inference closed with 503 maintenance, every
 * non-admin key suspended, evidence collected, audited) and release. Used by
 * `bulwark incident …` and `POST /admin/incident/…` alike.
 */
import { join } from "node:path";
import { BulwarkError } from "../errors/index.js";
import type { Config } from "../config/index.js";
import type { AuditLog } from "../audit/index.js";
import type { KeyStore } from "../auth/index.js";
import type { BanStore } from "../netfilter/index.js";
import { collectEvidence } from "./evidence.js";
import type { IncidentStore, Lockdown } from "./incident-store.js";

export interface IncidentDeps {
  config: Readonly<Config>;
  store: IncidentStore;
  audit: AuditLog;
  keys: KeyStore;
  bans: BanStore;
  now: () => number;
}

/** The config as evidence: every field but the ones that may hold a secret's path or value. */
function configEvidence(config: Readonly<Config>): unknown {
  return JSON.parse(
    JSON.stringify(config, (k, v: unknown) =>
      /token|password|secret|redisUrl|^key$/i.test(k) && typeof v === "string" && v !== ""
        ? "[redacted]"
        : v,
    ),
  );
}

export class IncidentService {
  constructor(private readonly d: IncidentDeps) {}

  status(): Lockdown | undefined {
    return this.d.store.current();
  }

  lockdown(actor: string, opts: { keepAdmin: boolean; reason: string }): Lockdown {
    const existing = this.d.store.current();
    if (existing) {
      throw new BulwarkError("incident_active", "A lockdown is already in force.");
    }
    const startedAt = this.d.now();
    const evidenceDir = collectEvidence(
      {
        home: this.d.config.home,
        logsDir: join(this.d.config.home, "logs"),
        auditLines: this.d.audit.entries().map((e) => JSON.stringify(e)),
        bans: this.d.bans.list(),
        keys: this.d.keys.list(),
        config: configEvidence(this.d.config),
      },
      startedAt,
    );
    const lockdown: Lockdown = {
      startedAt,
      reason: opts.reason,
      actor,
      keepAdmin: opts.keepAdmin,
      evidenceDir,
    };
    this.d.store.start(lockdown);
    this.d.audit.append(actor, "incident.lockdown", null, {
      keepAdmin: opts.keepAdmin,
      reason: opts.reason,
      evidenceDir,
    });
    return lockdown;
  }

  release(actor: string): Lockdown {
    const was = this.d.store.release();
    if (!was) throw new BulwarkError("incident_not_active", "No lockdown is in force.");
    this.d.audit.append(actor, "incident.released", null, {
      startedAt: new Date(was.startedAt).toISOString(),
    });
    return was;
  }
}
