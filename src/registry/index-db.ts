/**
 * The registry index: one SQLite file (better-sqlite3, WAL) inside the registry folder, so the
 * folder backs up as one unit. A running server and the CLI both open it; WAL lets the server
 * read while the CLI writes.
 */
import Database from "better-sqlite3";
import type { Manifest } from "./manifest.js";

export interface VersionRow {
  name: string;
  version: string;
  sha256: string;
  size: number;
  fingerprint: string;
  manifest: Manifest;
  createdAt: string;
}

const MIGRATIONS = [
  `CREATE TABLE versions (
     name TEXT NOT NULL, version TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
     fingerprint TEXT NOT NULL, manifest TEXT NOT NULL, created_at TEXT NOT NULL,
     PRIMARY KEY (name, version));
   CREATE TABLE aliases (
     name TEXT NOT NULL, alias TEXT NOT NULL, version TEXT NOT NULL, updated_at TEXT NOT NULL,
     PRIMARY KEY (name, alias));
   CREATE TABLE alias_history (
     id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, alias TEXT NOT NULL,
     version TEXT NOT NULL, at TEXT NOT NULL);`,
  // Which process serves which version, so that `rm` from another process can refuse.
  `CREATE TABLE serving (
     pid INTEGER NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL,
     PRIMARY KEY (pid, name));`,
];

export class RegistryIndex {
  private readonly db: Database.Database;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = FULL");
    this.db.pragma("busy_timeout = 5000");
    const current = this.db.pragma("user_version", { simple: true }) as number;
    for (let v = current; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]!);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  close(): void {
    this.db.close();
  }

  insert(m: Manifest): void {
    this.db
      .prepare(
        `INSERT INTO versions (name, version, sha256, size, fingerprint, manifest, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(m.name, m.version, m.sha256, m.size, m.fingerprint, JSON.stringify(m), m.createdAt);
  }

  get(name: string, version: string): VersionRow | undefined {
    const row = this.db
      .prepare(`SELECT * FROM versions WHERE name = ? AND version = ?`)
      .get(name, version) as Record<string, unknown> | undefined;
    return row ? toRow(row) : undefined;
  }

  list(name?: string): VersionRow[] {
    const rows = (
      name
        ? this.db
            .prepare(`SELECT * FROM versions WHERE name = ? ORDER BY created_at, rowid`)
            .all(name)
        : this.db.prepare(`SELECT * FROM versions ORDER BY name, created_at, rowid`).all()
    ) as Record<string, unknown>[];
    return rows.map(toRow);
  }

  delete(name: string, version: string): void {
    this.db.transaction(() => {
      this.db.prepare(`DELETE FROM versions WHERE name = ? AND version = ?`).run(name, version);
      this.db
        .prepare(`DELETE FROM alias_history WHERE name = ? AND version = ?`)
        .run(name, version);
      this.db.prepare(`DELETE FROM aliases WHERE name = ? AND version = ?`).run(name, version);
    })();
  }

  setServing(pid: number, name: string, version: string | null): void {
    if (version === null) {
      this.db.prepare(`DELETE FROM serving WHERE pid = ? AND name = ?`).run(pid, name);
    } else {
      this.db
        .prepare(
          `INSERT INTO serving (pid, name, version) VALUES (?, ?, ?)
           ON CONFLICT (pid, name) DO UPDATE SET version = excluded.version`,
        )
        .run(pid, name, version);
    }
  }

  serving(): { pid: number; name: string; version: string }[] {
    return this.db.prepare(`SELECT pid, name, version FROM serving`).all() as {
      pid: number;
      name: string;
      version: string;
    }[];
  }

  alias(name: string, alias: string): string | undefined {
    const row = this.db
      .prepare(`SELECT version FROM aliases WHERE name = ? AND alias = ?`)
      .get(name, alias) as { version: string } | undefined;
    return row?.version;
  }

  aliasesOf(name: string): { alias: string; version: string }[] {
    return this.db
      .prepare(`SELECT alias, version FROM aliases WHERE name = ? ORDER BY alias`)
      .all(name) as { alias: string; version: string }[];
  }

  /** Points the alias at `version` and records it in the alias's history. */
  setAlias(name: string, alias: string, version: string, at: string): void {
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO aliases (name, alias, version, updated_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version,
           updated_at = excluded.updated_at`,
        )
        .run(name, alias, version, at);
      this.db
        .prepare(`INSERT INTO alias_history (name, alias, version, at) VALUES (?, ?, ?, ?)`)
        .run(name, alias, version, at);
    })();
  }

  /**
   * Moves the alias back: drops the newest history entry and points the alias at the one
   * before it. Returns the version it now points at, or undefined when there is none.
   */
  /** The history entries newer than the previous version, and that version, if any. */
  private previousOf(name: string, alias: string) {
    const entries = this.db
      .prepare(
        `SELECT id, version FROM alias_history WHERE name = ? AND alias = ? ORDER BY id DESC`,
      )
      .all(name, alias) as { id: number; version: string }[];
    const current = this.alias(name, alias);
    // Skip the entries of the current version (promoted twice in a row counts once).
    let i = 0;
    while (i < entries.length && entries[i]!.version === current) i++;
    return { newer: entries.slice(0, i), previous: entries[i] };
  }

  /** The version popAlias() would move the alias back to, without moving it. */
  peekAlias(name: string, alias: string): string | undefined {
    return this.previousOf(name, alias).previous?.version;
  }

  popAlias(name: string, alias: string, at: string): string | undefined {
    return this.db.transaction(() => {
      const { newer, previous } = this.previousOf(name, alias);
      if (!previous) return undefined;
      const drop = newer.map((e) => e.id);
      const del = this.db.prepare(`DELETE FROM alias_history WHERE id = ?`);
      for (const id of drop) del.run(id);
      this.db
        .prepare(`UPDATE aliases SET version = ?, updated_at = ? WHERE name = ? AND alias = ?`)
        .run(previous.version, at, name, alias);
      return previous.version;
    })();
  }
}

function toRow(r: Record<string, unknown>): VersionRow {
  return {
    name: r.name as string,
    version: r.version as string,
    sha256: r.sha256 as string,
    size: Number(r.size),
    fingerprint: r.fingerprint as string,
    manifest: JSON.parse(r.manifest as string) as Manifest,
    createdAt: r.created_at as string,
  };
}
