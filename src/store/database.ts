/**
 * The embedded store: one SQLite file under config.home, opened in WAL mode so that the server
 * and the CLI can use it at the same time (readers never block the writer).
 */
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";

export type Db = Database.Database;

/** Opens (creating if needed) the SQLite file at `path` in WAL mode. ":memory:" for tests. */
export function openDatabase(path: string): Db {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  // NORMAL is durable across process crashes in WAL mode; only a power loss can drop the
  // last transactions, which is acceptable for counters and logs.
  db.pragma("synchronous = NORMAL");
  db.pragma("foreign_keys = ON");
  // The server and the CLI may write at once; wait instead of failing with SQLITE_BUSY.
  db.pragma("busy_timeout = 5000");
  return db;
}

/** One named, ordered schema change of a subsystem. */
export interface Migration {
  name: string;
  up: string | ((db: Db) => void);
}

/**
 * Applies the migrations of one subsystem that have not run yet, in order, each in its own
 * transaction. Subsystems share the file and the ledger table, never each other's names.
 */
export function migrate(db: Db, subsystem: string, migrations: readonly Migration[]): void {
  db.exec(
    `CREATE TABLE IF NOT EXISTS schema_migrations (
       subsystem TEXT NOT NULL, name TEXT NOT NULL, applied_at INTEGER NOT NULL,
       PRIMARY KEY (subsystem, name))`,
  );
  const applied = new Set(
    db
      .prepare("SELECT name FROM schema_migrations WHERE subsystem = ?")
      .pluck()
      .all(subsystem) as string[],
  );
  const record = db.prepare(
    "INSERT INTO schema_migrations (subsystem, name, applied_at) VALUES (?, ?, ?)",
  );
  for (const m of migrations) {
    if (applied.has(m.name)) continue;
    db.transaction(() => {
      if (typeof m.up === "string") db.exec(m.up);
      else m.up(db);
      record.run(subsystem, m.name, Date.now());
    })();
  }
}
