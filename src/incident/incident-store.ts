/**
 * The security-incident state in the store: whether a lockdown is in force, since when, why,
 * whether admin keys keep working, and where its evidence went. The CLI and the server share
 * the SQLite file, so `bulwark incident lockdown` holds on a running server within a second.
 */
import { migrate, type Db } from "../store/index.js";

export interface Lockdown {
  startedAt: number;
  reason: string;
  actor: string;
  /** Admin keys keep the admin API (to investigate and release); inference stays closed. */
  keepAdmin: boolean;
  evidenceDir: string;
}

const MIGRATIONS = [
  {
    name: "001-incident",
    up: `CREATE TABLE incident_lockdown (
      id INTEGER PRIMARY KEY CHECK (id = 1), started_at INTEGER NOT NULL, reason TEXT NOT NULL,
      actor TEXT NOT NULL, keep_admin INTEGER NOT NULL, evidence_dir TEXT NOT NULL)`,
  },
];

/** How often a server rereads the state (another process may have changed it), in ms. */
const REFRESH_MS = 1_000;

export class IncidentStore {
  private cached: { at: number; value: Lockdown | undefined } | undefined;

  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {
    migrate(db, "incident", MIGRATIONS);
  }

  /** The lockdown in force, if any (read at most once a second). */
  current(): Lockdown | undefined {
    const now = this.now();
    if (this.cached && now - this.cached.at < REFRESH_MS) return this.cached.value;
    const row = this.db.prepare("SELECT * FROM incident_lockdown WHERE id = 1").get() as
      | {
          started_at: number;
          reason: string;
          actor: string;
          keep_admin: number;
          evidence_dir: string;
        }
      | undefined;
    const value = row && {
      startedAt: row.started_at,
      reason: row.reason,
      actor: row.actor,
      keepAdmin: row.keep_admin === 1,
      evidenceDir: row.evidence_dir,
    };
    this.cached = { at: now, value };
    return value;
  }

  start(l: Lockdown): void {
    this.db
      .prepare(
        `INSERT OR REPLACE INTO incident_lockdown
           (id, started_at, reason, actor, keep_admin, evidence_dir) VALUES (1, ?, ?, ?, ?, ?)`,
      )
      .run(l.startedAt, l.reason, l.actor, l.keepAdmin ? 1 : 0, l.evidenceDir);
    this.cached = undefined;
  }

  /** Ends the lockdown; the one that was in force, if any. */
  release(): Lockdown | undefined {
    this.cached = undefined;
    const was = this.current();
    this.db.prepare("DELETE FROM incident_lockdown").run();
    this.cached = undefined;
    return was;
  }
}
