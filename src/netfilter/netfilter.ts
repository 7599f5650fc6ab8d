/**
 * The IP gate: the allow and deny lists, bans, and auto-bans after repeated auth failures or
 * rate-limit refusals.
 */
import { BulwarkError } from "../errors/index.js";
import { CidrList } from "./cidr.js";
import type { BanStore } from "./ban-store.js";
import { type Ban } from "./ban-store.js";
import {
  OffenceCounter,
  banDuration,
  type BanPolicy,
  type OffenceKind,
  type OffenceStore,
} from "./offences.js";

export interface NetfilterOptions {
  allow: readonly string[];
  deny: readonly string[];
  trustedProxies: readonly string[];
  autoBan: BanPolicy & { enabled: boolean; forgetAfterMs: number };
  /** Addresses never auto-banned (loopback by default, so an operator cannot lock himself out). */
  neverBan: readonly string[];
}

export class Netfilter {
  readonly trusted: CidrList;
  private readonly allow: CidrList;
  private readonly deny: CidrList;
  private readonly neverBan: CidrList;
  private readonly counter: OffenceStore;

  constructor(
    private readonly options: NetfilterOptions,
    readonly bans: BanStore,
    private readonly onBan: (ban: Ban) => void = () => undefined,
    private readonly now: () => number = Date.now,
    /** Where offences are counted; this process's own counters by default. */
    counter?: OffenceStore,
  ) {
    this.allow = new CidrList(options.allow);
    this.deny = new CidrList(options.deny);
    this.trusted = new CidrList(options.trustedProxies);
    this.neverBan = new CidrList(options.neverBan);
    const local = new OffenceCounter(options.autoBan);
    this.counter = counter ?? { record: async (ip, kind, now) => local.record(ip, kind, now) };
  }

  /** Throws ip_denied or ip_banned. */
  check(ip: string): void {
    if (this.deny.has(ip) || (this.allow.size > 0 && !this.allow.has(ip))) {
      throw new BulwarkError("ip_denied");
    }
    const ban = this.bans.active(ip);
    if (ban) {
      const retry = ban.expiresAt === null ? undefined : (ban.expiresAt - this.now()) / 1000;
      throw new BulwarkError("ip_banned", undefined, { retryAfterSeconds: retry });
    }
  }

  /** Counts an offence; bans the IP when it crosses the threshold. */
  async offence(ip: string, kind: OffenceKind): Promise<Ban | undefined> {
    const policy = this.options.autoBan;
    if (!policy.enabled || ip === "unknown" || this.neverBan.has(ip)) return undefined;
    const now = this.now();
    // Counted by what a ban would cover: an IPv6 client rotating in its /64 is one offender.
    if (!(await this.counter.record(this.bans.subject(ip), kind, now))) return undefined;
    const n = this.bans.priorOffences(ip, now - policy.forgetAfterMs) + 1;
    const ban = this.bans.add(ip, kind, "auto", banDuration(policy, n), n);
    this.onBan(ban);
    return ban;
  }
}
