/**
 * `backup restore`: every digest is checked before anything is written; the files are then
 * assembled in a folder inside the target home and moved into place, so a failure leaves the
 * home as it was. The restored home gets a fresh `serving` table (the processes it names
 * are gone) and the config files under `<home>/config/`.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { randomBytes } from "node:crypto";
import Database from "better-sqlite3";
import { BulwarkError } from "../errors/index.js";
import { sha256File } from "../registry/hashing.js";
import { fsyncDir } from "../registry/fs-atomic.js";
import { MODEL_FILE } from "../registry/manifest.js";
import { readManifest, verifyBackup } from "./catalog.js";
import { requireDataKey, type DataKey } from "./data-key.js";
import { decryptFile } from "./encrypted-file.js";
import type { BackupManifest } from "./layout.js";

export interface RestoreOptions {
  /** The backup folder and the backup's id. */
  dir: string;
  id: string;
  /** The home to restore into: absent or empty unless `force`. */
  home: string;
  /** The registry folder of the restored home (default <home>/models). */
  registryDir?: string;
  /** Restore over what the home holds (the files restored are replaced). */
  force?: boolean;
  /** The data key of an encrypted backup (default: from the environment). */
  key?: DataKey;
}

export interface RestoreResult {
  manifest: BackupManifest;
  /** Paths written, relative to the home (or absolute outside it). */
  restored: string[];
  /** Registry versions whose model file was not in the backup (copy them back by hand). */
  modelsMissing: string[];
}

function isEmptyDir(dir: string): boolean {
  return !existsSync(dir) || readdirSync(dir).length === 0;
}

/** Restores backup `id` of `dir` into `home`. */
export async function restoreBackup(options: RestoreOptions): Promise<RestoreResult> {
  const home = resolve(options.home);
  const registryDir = resolve(options.registryDir ?? join(home, "models"));
  const report = await verifyBackup(options.dir, options.id);
  if (!report.ok) {
    throw new BulwarkError(
      "backup_corrupted",
      `nothing restored; backup ${options.id} fails its checksums:\n  ${report.problems.join("\n  ")}`,
    );
  }
  const manifest = readManifest(options.dir, options.id);
  let key: DataKey | undefined;
  if (manifest.encryption) {
    key = options.key ?? requireDataKey();
    if (key.id !== manifest.encryption.keyId) {
      throw new BulwarkError(
        "backup_key_unavailable",
        `nothing restored; backup ${options.id} was encrypted with data key ${manifest.encryption.keyId}, ` +
          `the key given is ${key.id}`,
      );
    }
  }
  if (!options.force) {
    for (const target of [home, registryDir]) {
      if (!isEmptyDir(target)) {
        throw new BulwarkError(
          "backup_target_not_empty",
          `nothing restored; ${target} is not empty (restore onto an empty home, or pass --force)`,
        );
      }
    }
  }
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const stage = join(home, `.restore-${process.pid}-${randomBytes(4).toString("hex")}`);
  mkdirSync(stage, { mode: 0o700 });
  try {
    const root = join(options.dir, options.id);
    const place = async (src: string, dest: string, label: string) => {
      mkdirSync(dirname(dest), { recursive: true, mode: 0o700 });
      if (key) await decryptFile(src, dest, key.key, label);
      else copyFileSync(src, dest);
    };
    for (const f of manifest.files) {
      await place(join(root, f.path), join(stage, f.path), `${options.id}/${f.path}`);
    }
    for (const m of manifest.models) {
      const dest = join(stage, "registry", m.name, m.version, MODEL_FILE);
      await place(join(options.dir, m.blob), dest, m.blob);
      if ((await sha256File(dest)) !== m.sha256) {
        throw new BulwarkError(
          "backup_corrupted",
          `${m.blob}: the restored model's sha256 differs`,
        );
      }
    }
    const index = join(stage, "registry", "index.db");
    if (existsSync(index)) forgetServing(index);
    const restored = moveIntoPlace(stage, home, registryDir, options.force ?? false);
    const withModel = new Set(manifest.models.map((m) => `${m.name}:${m.version}`));
    return {
      manifest,
      restored,
      modelsMissing: manifest.registryVersions
        .map((v) => `${v.name}:${v.version}`)
        .filter((ref) => !withModel.has(ref)),
    };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/** The processes the snapshot's `serving` rows name are gone; a restored index has none. */
function forgetServing(index: string): void {
  const db = new Database(index);
  try {
    db.exec("DELETE FROM serving");
  } finally {
    db.close();
  }
}

/**
 * Moves the staged `home/*` entries into the home, `registry/` into the registry folder and
 * `config/` into `<home>/config`; with `force`, what they replace goes first (a store's -wal
 * and -shm too: an old WAL replayed over a restored file would corrupt it).
 */
function moveIntoPlace(stage: string, home: string, registryDir: string, force: boolean): string[] {
  const moves: [string, string][] = [];
  const stagedHome = join(stage, "home");
  if (existsSync(stagedHome)) {
    for (const entry of readdirSync(stagedHome))
      moves.push([join(stagedHome, entry), join(home, entry)]);
  }
  if (existsSync(join(stage, "registry"))) moves.push([join(stage, "registry"), registryDir]);
  if (existsSync(join(stage, "config"))) moves.push([join(stage, "config"), join(home, "config")]);
  const restored: string[] = [];
  for (const [from, to] of moves) {
    if (force || existsSync(to)) {
      rmSync(to, { recursive: true, force: true });
      if (to.endsWith(".db")) {
        rmSync(`${to}-wal`, { force: true });
        rmSync(`${to}-shm`, { force: true });
      }
    }
    mkdirSync(dirname(to), { recursive: true, mode: 0o700 });
    renameSync(from, to);
    fsyncDir(dirname(to));
    const rel = relative(home, to);
    restored.push(rel.startsWith("..") || rel.startsWith(sep) ? to : rel);
  }
  return restored;
}
