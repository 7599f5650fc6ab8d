/**
 * Auto-ban offence counters shared by a fleet: a sliding window per IP and kind in a Redis
 * sorted set (lua.ts OFFENCE), so that an attacker spread over instances still reaches the
 * threshold. When Redis cannot be reached, this process counts alone (an offence counter
 * protects no money; losing it would only switch auto-bans off).
 */
import { randomUUID } from "node:crypto";
import {
  OffenceCounter,
  offenceThreshold,
  type BanPolicy,
  type OffenceKind,
  type OffenceStore,
} from "../../netfilter/index.js";
import type { RedisConnection } from "./connection.js";

export class RedisOffenceStore implements OffenceStore {
  private readonly local: OffenceCounter;

  constructor(
    private readonly redis: RedisConnection,
    private readonly policy: BanPolicy,
  ) {
    this.local = new OffenceCounter(policy);
  }

  async record(ip: string, kind: OffenceKind, now: number): Promise<boolean> {
    const limit = offenceThreshold(this.policy, kind);
    if (limit <= 0) return false;
    try {
      const hit = await this.redis.script(
        "bwOffence",
        `offence:${kind}:${ip}`,
        limit,
        this.policy.windowMs,
        randomUUID(),
      );
      return Number(hit) === 1;
    } catch {
      return this.local.record(ip, kind, now);
    }
  }
}
