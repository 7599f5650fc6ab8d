/**
 * The audit log: append-only and hash-chained. Each entry's hash covers its own fields, its
 * sequence number and the previous entry's hash, so changing, deleting, inserting or reordering
 * any entry breaks the chain from that point. Triggers refuse UPDATE and DELETE; a head file
 * beside the store remembers the last entry, so cutting off the tail is caught too.
 */
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { migrate, type Db } from "../store/index.js";

const GENESIS = "0".repeat(64);

const MIGRATIONS = [
  {
    name: "001-audit",
    up: `CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, actor TEXT NOT NULL,
        action TEXT NOT NULL, target TEXT, details TEXT NOT NULL,
        prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
      CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
      CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;`,
  },
];

export interface AuditEntry {
  seq: number;
  ts: number;
  /** Who did it: a key id, "cli", "system" or an IP for failed admin logins. */
  actor: string;
  /** key.created, key.revoked, key.rotated, key.role_changed, ban.added, ban.lifted,
   *  model.loaded, config.changed, admin.auth_failed, server.started … */
  action: string;
  target: string | null;
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

export interface VerifyResult {
  ok: boolean;
  entries: number;
  /** The first entry that does not fit the chain, and why. */
  firstBad?: { seq: number; reason: string };
  /** Entries by the instance that wrote them (details.instance; "-" for none). */
  instances?: Record<string, number>;
}

interface Row {
  seq: number;
  ts: number;
  actor: string;
  action: string;
  target: string | null;
  details: string;
  prev_hash: string;
  hash: string;
}

function entryHash(e: Omit<AuditEntry, "hash" | "details"> & { details: string }): string {
  const canonical = JSON.stringify([
    e.seq,
    e.ts,
    e.actor,
    e.action,
    e.target,
    e.details,
    e.prevHash,
  ]);
  return createHash("sha256").update(canonical).digest("hex");
}

const toEntry = (r: Row): AuditEntry => ({
  seq: r.seq,
  ts: r.ts,
  actor: r.actor,
  action: r.action,
  target: r.target,
  details: JSON.parse(r.details) as Record<string, unknown>,
  prevHash: r.prev_hash,
  hash: r.hash,
});

export class AuditLog {
  constructor(
    private readonly db: Db,
    /** The head file (last seq and hash); undefined keeps no head (in-memory stores). */
    private readonly headPath: string | undefined,
    private readonly now: () => number = Date.now,
    /** The instance that writes (recorded in each entry's details); none for the CLI. */
    private readonly instance?: string,
  ) {
    migrate(db, "audit", MIGRATIONS);
  }

  /** Appends one entry and returns it. */
  append(
    actor: string,
    action: string,
    target: string | null,
    details: Record<string, unknown> = {},
  ): AuditEntry {
    const write = this.db.transaction(() => {
      const last = this.db
        .prepare("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        .get() as { seq: number; hash: string } | undefined;
      const base = {
        seq: (last?.seq ?? 0) + 1,
        ts: this.now(),
        actor,
        action,
        target,
        details: JSON.stringify(this.instance ? { ...details, instance: this.instance } : details),
        prevHash: last?.hash ?? GENESIS,
      };
      const hash = entryHash(base);
      this.db
        .prepare(
          `INSERT INTO audit_log (seq, ts, actor, action, target, details, prev_hash, hash)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(base.seq, base.ts, actor, action, target, base.details, base.prevHash, hash);
      return { ...base, details: JSON.parse(base.details) as Record<string, unknown>, hash };
    });
    const entry = write.immediate();
    if (this.headPath)
      writeFileSync(this.headPath, `${entry.seq} ${entry.hash}\n`, { mode: 0o600 });
    return entry;
  }

  /** Entries in order, optionally from a time on. */
  entries(since = 0): AuditEntry[] {
    const rows = this.db
      .prepare("SELECT * FROM audit_log WHERE ts >= ? ORDER BY seq")
      .all(since) as Row[];
    return rows.map(toEntry);
  }

  /** The newest `limit` entries before `beforeSeq` (all when omitted), newest first. */
  tail(limit: number, beforeSeq = Number.MAX_SAFE_INTEGER): AuditEntry[] {
    const rows = this.db
      .prepare("SELECT * FROM audit_log WHERE seq < ? ORDER BY seq DESC LIMIT ?")
      .all(beforeSeq, limit) as Row[];
    return rows.map(toEntry);
  }

  /** The newest entry of `action`, if any (one row read, however long the log). */
  lastEntry(action: string): AuditEntry | undefined {
    const row = this.db
      .prepare("SELECT * FROM audit_log WHERE action = ? ORDER BY seq DESC LIMIT 1")
      .get(action) as Row | undefined;
    return row ? toEntry(row) : undefined;
  }

  /** Walks the chain and names the first entry that breaks it. */
  verify(): VerifyResult {
    const rows = this.db.prepare("SELECT * FROM audit_log ORDER BY rowid").all() as Row[];
    let prev = GENESIS;
    let expectSeq = 1;
    const instances: Record<string, number> = {};
    for (const r of rows) {
      const bad = (reason: string): VerifyResult => ({
        ok: false,
        entries: rows.length,
        firstBad: { seq: r.seq, reason },
      });
      if (r.seq !== expectSeq) {
        return bad(
          r.seq > expectSeq
            ? `entries ${expectSeq}…${r.seq - 1} are missing (deleted)`
            : `sequence out of order: expected ${expectSeq} (reordered or inserted)`,
        );
      }
      if (r.prev_hash !== prev) {
        return bad(
          "its previous-hash does not match the entry before it (inserted, deleted or reordered)",
        );
      }
      const hash = entryHash({
        seq: r.seq,
        ts: r.ts,
        actor: r.actor,
        action: r.action,
        target: r.target,
        details: r.details,
        prevHash: r.prev_hash,
      });
      if (hash !== r.hash) return bad("its content does not match its hash (modified)");
      const by = (JSON.parse(r.details) as { instance?: unknown }).instance;
      const name = typeof by === "string" ? by : "-";
      instances[name] = (instances[name] ?? 0) + 1;
      prev = r.hash;
      expectSeq++;
    }
    const head = this.readHead();
    if (head && (head.seq > rows.length || (head.seq === rows.length && head.hash !== prev))) {
      return {
        ok: false,
        entries: rows.length,
        firstBad: {
          seq: Math.min(head.seq, rows.length + 1),
          reason: `the log ends at entry ${rows.length} but entry ${head.seq} was written (deleted from the end)`,
        },
      };
    }
    const named = Object.keys(instances).some((name) => name !== "-");
    return { ok: true, entries: rows.length, ...(named ? { instances } : {}) };
  }

  private readHead(): { seq: number; hash: string } | undefined {
    if (!this.headPath) return undefined;
    try {
      const [seq, hash] = readFileSync(this.headPath, "utf8").trim().split(" ");
      return { seq: Number(seq), hash: hash ?? "" };
    } catch {
      return undefined;
    }
  }
}
