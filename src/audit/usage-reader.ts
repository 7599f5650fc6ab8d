/**
 * Where usage reports are read: this home's table, or, with state.backend redis, the sum of
 * every home of the fleet (src/store/redis/fleet-usage.ts). Each answer says which it is, so
 * that a report made while Redis was unreachable is not taken for the fleet's.
 */
import type {
  KeyUsageTotals,
  UsagePageQuery,
  UsageQuery,
  UsageRow,
  UsageStore,
} from "./usage-store.js";

/** "fleet": every instance sharing the Redis; "instance": this home only. */
export type UsageScope = "fleet" | "instance";

export interface UsageReader {
  query(q: UsageQuery): Promise<{ rows: UsageRow[]; scope: UsageScope }>;
  pageByKey(
    q: UsagePageQuery,
  ): Promise<{ total: number; data: KeyUsageTotals[]; scope: UsageScope }>;
}

/** The usage of this home alone. */
export class LocalUsageReader implements UsageReader {
  constructor(private readonly store: UsageStore) {}

  async query(q: UsageQuery) {
    return { rows: this.store.query(q), scope: "instance" as const };
  }

  async pageByKey(q: UsagePageQuery) {
    return { ...this.store.pageByKey(q), scope: "instance" as const };
  }
}
