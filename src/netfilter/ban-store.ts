/**
 * Bans in SQLite, so they survive a restart and the CLI sees the server's (and the other way
 * round). A lifted or expired ban keeps its row: the offence count makes repeat bans longer.
 * The check on every request reads an in-memory copy of the bans in force: this process's own
 * changes reach it at once, another process's (the CLI's) within a second, when SQLite's
 * data_version shows the database changed. Bans are keyed by `subject`: an IPv4 address, or
 * an IPv6 address's network (/64 by default), so rotating within a /64 does not escape one.
 */
import { migrate, type Db } from "../store/index.js";
import { ipSubject } from "../util/ip-address.js";

export interface Ban {
  ip: string;
  reason: string;
  /** "auto" or the key id / "cli" that added it. */
  source: string;
  createdAt: number;
  /** null: until lifted. */
  expiresAt: number | null;
  offences: number;
}

const MIGRATIONS = [
  {
    name: "001-bans",
    up: `CREATE TABLE bans (
      ip TEXT PRIMARY KEY, reason TEXT NOT NULL, source TEXT NOT NULL,
      created_at INTEGER NOT NULL, expires_at INTEGER, lifted_at INTEGER,
      offences INTEGER NOT NULL DEFAULT 1)`,
  },
];

interface Row {
  ip: string;
  reason: string;
  source: string;
  created_at: number;
  expires_at: number | null;
  lifted_at: number | null;
  offences: number;
}

const toBan = (r: Row): Ban => ({
  ip: r.ip,
  reason: r.reason,
  source: r.source,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  offences: r.offences,
});

/** How often the in-memory bans look for another process's changes, in ms. */
const REFRESH_MS = 1_000;

/** A ban's row as other instances receive it (a lifted ban keeps its row). */
export interface ReplicatedBan extends Ban {
  liftedAt: number | null;
}

export class BanStore {
  /** Told about each ban added or lifted here (not about replicated ones), by IP. */
  onChange: (ip: string) => void = () => undefined;
  private readonly activeStmt;
  private readonly rowStmt;
  private readonly listStmt;
  private readonly versionStmt;
  /** The bans in force by IP, and the data_version they were read at. */
  private inForce: Map<string, Ban> | undefined;
  private checkedAt = 0;
  private version: unknown;

  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
    /** Bits of an IPv6 address a ban covers (security.ipv6BanPrefix); IPv4 bans one address. */
    private readonly ipv6Prefix = 64,
  ) {
    migrate(db, "netfilter", MIGRATIONS);
    this.activeStmt = db.prepare(
      `SELECT * FROM bans WHERE ip = ? AND lifted_at IS NULL
         AND (expires_at IS NULL OR expires_at > ?)`,
    );
    this.rowStmt = db.prepare("SELECT * FROM bans WHERE ip = ?");
    this.listStmt = db.prepare(
      `SELECT * FROM bans WHERE lifted_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
         ORDER BY created_at`,
    );
    this.versionStmt = db.prepare("PRAGMA data_version").pluck();
  }

  /** What a ban on `ip` is keyed by: the canonical IPv4 address or the IPv6 network. */
  subject(ip: string): string {
    return ipSubject(ip, this.ipv6Prefix);
  }

  /** The ban in force on `ip`, if any (the per-request check: from memory). */
  active(address: string): Ban | undefined {
    const ip = this.subject(address);
    const now = this.now();
    if (!this.inForce || now - this.checkedAt >= REFRESH_MS) {
      const version = this.versionStmt.get();
      if (!this.inForce || version !== this.version) {
        const rows = this.listStmt.all(now) as Row[];
        this.inForce = new Map(rows.map((r) => [r.ip, toBan(r)]));
        this.version = version;
      }
      this.checkedAt = now;
    }
    const ban = this.inForce.get(ip);
    return ban && (ban.expiresAt === null || ban.expiresAt > now) ? ban : undefined;
  }

  /** Offences recorded for `ip` since `since` (older ones are forgiven). */
  priorOffences(address: string, since: number): number {
    const ip = this.subject(address);
    const row = this.rowStmt.get(ip) as Row | undefined;
    return row && row.created_at >= since ? row.offences : 0;
  }

  /** Bans `ip` for `durationMs` (null: until lifted). */
  add(
    address: string,
    reason: string,
    source: string,
    durationMs: number | null,
    offences = 1,
  ): Ban {
    const ip = this.subject(address);
    const now = this.now();
    this.db
      .prepare(
        `INSERT INTO bans (ip, reason, source, created_at, expires_at, lifted_at, offences)
         VALUES (?, ?, ?, ?, ?, NULL, ?)
         ON CONFLICT(ip) DO UPDATE SET reason = excluded.reason, source = excluded.source,
           created_at = excluded.created_at, expires_at = excluded.expires_at, lifted_at = NULL,
           offences = excluded.offences`,
      )
      .run(ip, reason, source, now, durationMs === null ? null : now + durationMs, offences);
    this.inForce = undefined;
    this.onChange(ip);
    return toBan(this.activeStmt.get(ip, now) as Row);
  }

  /** Lifts the ban on `ip`; false when none was in force. */
  lift(address: string): boolean {
    const ip = this.subject(address);
    const res = this.db
      .prepare(
        `UPDATE bans SET lifted_at = ? WHERE ip = ? AND lifted_at IS NULL
           AND (expires_at IS NULL OR expires_at > ?)`,
      )
      .run(this.now(), ip, this.now());
    this.inForce = undefined;
    if (res.changes > 0) this.onChange(ip);
    return res.changes > 0;
  }

  /** The row of `ip`, lifted or not, as it is sent to the other instances of a fleet. */
  replica(ip: string): ReplicatedBan | undefined {
    const row = this.rowStmt.get(ip) as Row | undefined;
    return row ? { ...toBan(row), liftedAt: row.lifted_at } : undefined;
  }

  /** Writes a ban added or lifted on another instance; the check sees it at once. */
  applyReplica(b: ReplicatedBan): void {
    this.db
      .prepare(
        `INSERT INTO bans (ip, reason, source, created_at, expires_at, lifted_at, offences)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(ip) DO UPDATE SET reason = excluded.reason, source = excluded.source,
           created_at = excluded.created_at, expires_at = excluded.expires_at,
           lifted_at = excluded.lifted_at, offences = excluded.offences`,
      )
      .run(b.ip, b.reason, b.source, b.createdAt, b.expiresAt, b.liftedAt, b.offences);
    this.inForce = undefined;
  }

  /** Bans in force now. */
  list(): Ban[] {
    return (this.listStmt.all(this.now()) as Row[]).map(toBan);
  }
}

/**
 * A ban's record may leave Redis a day after the ban expired (every instance has applied it by
 * then, and an expired ban refuses nothing). A ban without an end stays, lifted or not, so that
 * an instance that was away for long still learns of its lifting.
 */
export function banDropAfter(ban: { expiresAt: number | null } | undefined): number | undefined {
  return ban?.expiresAt == null ? undefined : ban.expiresAt + 86_400_000;
}
