/**
 * A consistent copy of a live SQLite file through SQLite's online backup API (better-sqlite3's
 * `backup()`), never a file copy: a copy of the file can catch a write half done and misses
 * what still sits in the WAL. The copy runs in one step, so it is one read transaction: one
 * point in time, and writers of other connections never make it start over.
 */
import Database from "better-sqlite3";

/** Copies the database at `src` into the new file `dest`. */
export async function snapshotSqlite(src: string, dest: string): Promise<void> {
  const db = new Database(src, { fileMustExist: true });
  try {
    db.pragma("busy_timeout = 5000");
    // All remaining pages in the next step (the first step only opens the backup).
    await db.backup(dest, { progress: () => 0x7fffffff });
  } finally {
    db.close();
  }
  // The copy carries the source's WAL mode; as a rollback-journal file it is one file at rest
  // (a reader of a WAL file leaves -wal and -shm beside it). The store sets WAL again on open.
  const copy = new Database(dest, { fileMustExist: true });
  try {
    copy.pragma("journal_mode = DELETE");
  } finally {
    copy.close();
  }
}

/** The last entry of the audit chain in a store file, if it has one. */
export function auditHeadOf(file: string): { seq: number; hash: string } | null {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const table = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'audit_log'")
      .get();
    if (!table) return null;
    const row = db.prepare("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").get() as
      { seq: number; hash: string } | undefined;
    return row ?? null;
  } finally {
    db.close();
  }
}

/** The registry versions in an index file (name, version, sha256, size, manifest JSON). */
export function registryVersionsOf(
  file: string,
): { name: string; version: string; sha256: string; size: number; manifest: string }[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare("SELECT name, version, sha256, size, manifest FROM versions ORDER BY name, version")
      .all() as { name: string; version: string; sha256: string; size: number; manifest: string }[];
  } finally {
    db.close();
  }
}
