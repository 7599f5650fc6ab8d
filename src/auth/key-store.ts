/**
 * API keys in SQLite: only the SHA-256 digest of a key is stored; a key is found by its id.
 * A rotation keeps the id (so usage stays attributed to it) and keeps the previous digest valid
 * until the grace period ends.
 */
import type { Db } from "../store/index.js";
import { migrate } from "../store/index.js";
import { digestKey, generateKey } from "./key-format.js";
import type { Role } from "./roles.js";

/** What a key's owner asked the privacy layer to do with prompts and outputs. */
export const maskPolicies = ["none", "prompt", "prompt+output", "reversible"] as const;
export type MaskPolicy = (typeof maskPolicies)[number];

export interface KeyLimits {
  /** Requests per minute; 0 is unlimited. */
  rpm: number;
  /** Tokens per minute (prompt + max_tokens reserved); 0 is unlimited. */
  tpm: number;
  /** Requests in flight at once; 0 is unlimited. */
  concurrency: number;
  /** Tokens per UTC day; 0 is unlimited. */
  dailyBudget: number;
}

export interface KeyRecord extends KeyLimits {
  id: string;
  name: string;
  role: Role;
  /** Models the key may use; empty means all. */
  models: string[];
  /** CIDRs the key may be used from; empty means anywhere. */
  ips: string[];
  mask: MaskPolicy;
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
  revokedAt: number | null;
  /** Until when the digest before the last rotation is still accepted. */
  previousValidUntil: number | null;
}

export interface StoredKey extends KeyRecord {
  digest: Buffer;
  previousDigest: Buffer | null;
}

export interface NewKey extends Partial<KeyLimits> {
  name: string;
  role: Role;
  models?: string[];
  ips?: string[];
  mask?: MaskPolicy;
  expiresAt?: number | null;
}

const MIGRATIONS = [
  {
    name: "001-keys",
    up: `CREATE TABLE api_keys (
      id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL,
      digest BLOB NOT NULL, previous_digest BLOB, previous_valid_until INTEGER,
      models TEXT NOT NULL DEFAULT '[]', ips TEXT NOT NULL DEFAULT '[]',
      mask TEXT NOT NULL DEFAULT 'none',
      rpm INTEGER NOT NULL DEFAULT 0, tpm INTEGER NOT NULL DEFAULT 0,
      concurrency INTEGER NOT NULL DEFAULT 0, daily_budget INTEGER NOT NULL DEFAULT 0,
      created_at INTEGER NOT NULL, expires_at INTEGER, last_used_at INTEGER, revoked_at INTEGER)`,
  },
];

interface Row {
  id: string;
  name: string;
  role: Role;
  digest: Buffer;
  previous_digest: Buffer | null;
  previous_valid_until: number | null;
  models: string;
  ips: string;
  mask: MaskPolicy;
  rpm: number;
  tpm: number;
  concurrency: number;
  daily_budget: number;
  created_at: number;
  expires_at: number | null;
  last_used_at: number | null;
  revoked_at: number | null;
}

function fromRow(r: Row): StoredKey {
  return {
    id: r.id,
    name: r.name,
    role: r.role,
    digest: r.digest,
    previousDigest: r.previous_digest,
    previousValidUntil: r.previous_valid_until,
    models: JSON.parse(r.models) as string[],
    ips: JSON.parse(r.ips) as string[],
    mask: r.mask,
    rpm: r.rpm,
    tpm: r.tpm,
    concurrency: r.concurrency,
    dailyBudget: r.daily_budget,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    lastUsedAt: r.last_used_at,
    revokedAt: r.revoked_at,
  };
}

/** Strips the digests: what lists and the admin API show. */
export function publicKey(k: StoredKey): KeyRecord {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  const { digest, previousDigest, ...rest } = k;
  return rest;
}

/** A key's record as other instances receive it: everything but its last use. */
export type ReplicatedKey = Omit<StoredKey, "digest" | "previousDigest" | "lastUsedAt"> & {
  digest: string;
  previousDigest: string | null;
};

export class KeyStore {
  private readonly byId;
  private readonly touchStmt;
  /** Told about each change made here (not about replicated ones), by key id. */
  onChange: (id: string) => void = () => undefined;

  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {
    migrate(db, "auth", MIGRATIONS);
    this.byId = db.prepare("SELECT * FROM api_keys WHERE id = ?");
    this.touchStmt = db.prepare("UPDATE api_keys SET last_used_at = ? WHERE id = ?");
  }

  /** Creates a key and returns it in full: the only time the secret exists outside a client. */
  create(input: NewKey, fullKey?: string): { key: string; record: KeyRecord } {
    const generated = fullKey ? { id: fullKey.split("_")[1]!, full: fullKey } : generateKey();
    this.db
      .prepare(
        `INSERT INTO api_keys (id, name, role, digest, models, ips, mask, rpm, tpm, concurrency,
           daily_budget, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        generated.id,
        input.name,
        input.role,
        digestKey(generated.full),
        JSON.stringify(input.models ?? []),
        JSON.stringify(input.ips ?? []),
        input.mask ?? "none",
        input.rpm ?? 0,
        input.tpm ?? 0,
        input.concurrency ?? 0,
        input.dailyBudget ?? 0,
        this.now(),
        input.expiresAt ?? null,
      );
    this.onChange(generated.id);
    return { key: generated.full, record: publicKey(this.get(generated.id)!) };
  }

  get(id: string): StoredKey | undefined {
    const row = this.byId.get(id) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  list(): KeyRecord[] {
    const rows = this.db.prepare("SELECT * FROM api_keys ORDER BY created_at, id").all() as Row[];
    return rows.map((r) => publicKey(fromRow(r)));
  }

  count(): number {
    return this.db.prepare("SELECT count(*) FROM api_keys").pluck().get() as number;
  }

  /** Marks a key revoked; false when there is no such key or it was already revoked. */
  revoke(id: string): boolean {
    const res = this.db
      .prepare("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
      .run(this.now(), id);
    if (res.changes > 0) this.onChange(id);
    return res.changes > 0;
  }

  /** New secret, same id; the old secret works for `graceMs` more. */
  rotate(id: string, graceMs: number): { key: string; record: KeyRecord } | undefined {
    const current = this.get(id);
    if (!current || current.revokedAt !== null) return undefined;
    const next = generateKey(id);
    this.db
      .prepare(
        `UPDATE api_keys SET previous_digest = digest, previous_valid_until = ?, digest = ?
         WHERE id = ?`,
      )
      .run(this.now() + graceMs, digestKey(next.full), id);
    this.onChange(id);
    return { key: next.full, record: publicKey(this.get(id)!) };
  }

  /** Changes a key's role; returns the old one. */
  setRole(id: string, role: Role): Role | undefined {
    const current = this.get(id);
    if (!current) return undefined;
    this.db.prepare("UPDATE api_keys SET role = ? WHERE id = ?").run(role, id);
    this.onChange(id);
    return current.role;
  }

  /** The key as it is sent to the other instances of a fleet. */
  replica(id: string): ReplicatedKey | undefined {
    const k = this.get(id);
    if (!k) return undefined;
    // eslint-disable-next-line @typescript-eslint/no-unused-vars
    const { lastUsedAt, digest, previousDigest, ...rest } = k;
    return {
      ...rest,
      digest: digest.toString("hex"),
      previousDigest: previousDigest?.toString("hex") ?? null,
    };
  }

  /** Writes a key received from another instance (created, revoked, rotated or re-roled there). */
  applyReplica(k: ReplicatedKey): void {
    this.db
      .prepare(
        `INSERT INTO api_keys (id, name, role, digest, previous_digest, previous_valid_until,
           models, ips, mask, rpm, tpm, concurrency, daily_budget, created_at, expires_at,
           revoked_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET name = excluded.name, role = excluded.role,
           digest = excluded.digest, previous_digest = excluded.previous_digest,
           previous_valid_until = excluded.previous_valid_until, models = excluded.models,
           ips = excluded.ips, mask = excluded.mask, rpm = excluded.rpm, tpm = excluded.tpm,
           concurrency = excluded.concurrency, daily_budget = excluded.daily_budget,
           expires_at = excluded.expires_at, revoked_at = excluded.revoked_at`,
      )
      .run(
        k.id,
        k.name,
        k.role,
        Buffer.from(k.digest, "hex"),
        k.previousDigest === null ? null : Buffer.from(k.previousDigest, "hex"),
        k.previousValidUntil,
        JSON.stringify(k.models),
        JSON.stringify(k.ips),
        k.mask,
        k.rpm,
        k.tpm,
        k.concurrency,
        k.dailyBudget,
        k.createdAt,
        k.expiresAt,
        k.revokedAt,
      );
  }

  touch(id: string, at: number): void {
    this.touchStmt.run(at, id);
  }
}
