/** `backup list | verify | prune`: the complete backups of a folder, checked and pruned. */
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { isAbsolute, join, normalize } from "node:path";
import { BulwarkError } from "../errors/index.js";
import { sha256File } from "../registry/hashing.js";
import { checkPart } from "../registry/names.js";
import { partials, sweepPartials } from "./files.js";
import {
  BLOBS_DIR,
  blobPath,
  isBackupId,
  MANIFEST_NAME,
  MANIFEST_SUM_NAME,
  type BackupManifest,
} from "./layout.js";

export interface BackupSummary {
  id: string;
  createdAt: string;
  bulwarkVersion: string;
  encrypted: boolean;
  includeModels: boolean;
  models: number;
  files: number;
  auditEntries: number;
  bytesTotal: number;
  bytesWritten: number;
}

export interface BackupListing {
  backups: BackupSummary[];
  /** Backups being written now, or left by a create that was killed (not usable). */
  incomplete: { name: string; live: boolean }[];
}

/** Reads a backup's MANIFEST.json (checked separately by `verifyBackup`). */
export function readManifest(dir: string, id: string): BackupManifest {
  if (!isBackupId(id) || !existsSync(join(dir, id, MANIFEST_NAME))) {
    throw new BulwarkError("backup_not_found", `no complete backup ${id} in ${dir}`);
  }
  try {
    return JSON.parse(readFileSync(join(dir, id, MANIFEST_NAME), "utf8")) as BackupManifest;
  } catch {
    throw new BulwarkError("backup_corrupted", `${id}/${MANIFEST_NAME}: not valid JSON`);
  }
}

function summary(m: BackupManifest): BackupSummary {
  return {
    id: m.id,
    createdAt: m.createdAt,
    bulwarkVersion: m.bulwarkVersion,
    encrypted: m.encryption !== null,
    includeModels: m.includeModels,
    models: m.models.length,
    files: m.files.length,
    auditEntries: m.auditHead?.seq ?? 0,
    bytesTotal: m.bytesTotal,
    bytesWritten: m.bytesWritten,
  };
}

/** The complete backups of `dir`, newest first; a folder without MANIFEST.json is not one. */
export function listBackups(dir: string): BackupListing {
  if (!existsSync(dir)) return { backups: [], incomplete: [] };
  const backups: BackupSummary[] = [];
  for (const name of readdirSync(dir)) {
    if (!isBackupId(name) || !existsSync(join(dir, name, MANIFEST_NAME))) continue;
    try {
      backups.push(summary(readManifest(dir, name)));
    } catch {
      // An unreadable manifest is not a usable backup; `verify ID` says why.
    }
  }
  backups.sort((a, b) =>
    a.createdAt === b.createdAt ? (a.id < b.id ? 1 : -1) : a.createdAt < b.createdAt ? 1 : -1,
  );
  return { backups, incomplete: partials(dir) };
}

export interface VerifyReport {
  id: string;
  ok: boolean;
  /** One line per bad file, naming it. */
  problems: string[];
  filesChecked: number;
  bytesChecked: number;
}

/** A registry name and version, so that a restore never writes outside the registry folder. */
function validRef(name: string, version: string): boolean {
  try {
    checkPart(name, "name");
    checkPart(version, "version");
    return true;
  } catch {
    return false;
  }
}

/** A file of the backup: inside one of the folders a restore places, never outside them. */
function safeRel(rel: string): boolean {
  if (isAbsolute(rel) || rel.includes("\0")) return false;
  return /^(home|registry|config)\//.test(normalize(rel));
}

/** Recomputes the sha256 of MANIFEST.json, of every file and of every model blob. */
export async function verifyBackup(dir: string, id: string): Promise<VerifyReport> {
  const root = join(dir, id);
  const report: VerifyReport = { id, ok: false, problems: [], filesChecked: 0, bytesChecked: 0 };
  if (!isBackupId(id) || !existsSync(join(root, MANIFEST_NAME))) {
    throw new BulwarkError("backup_not_found", `no complete backup ${id} in ${dir}`);
  }
  const check = async (rel: string, path: string, expected: string) => {
    report.filesChecked++;
    try {
      const actual = await sha256File(path);
      report.bytesChecked += statSync(path).size;
      if (actual !== expected)
        report.problems.push(`${rel}: sha256 ${actual}, recorded ${expected}`);
    } catch {
      report.problems.push(`${rel}: missing or unreadable`);
    }
  };
  try {
    const listed = readFileSync(join(root, MANIFEST_SUM_NAME), "utf8").trim().split(/\s+/)[0];
    await check(`${id}/${MANIFEST_NAME}`, join(root, MANIFEST_NAME), listed ?? "");
  } catch {
    report.problems.push(`${id}/${MANIFEST_SUM_NAME}: missing or unreadable`);
  }
  let manifest: BackupManifest;
  try {
    manifest = readManifest(dir, id);
  } catch (err) {
    report.problems.push((err as Error).message);
    return report;
  }
  for (const f of manifest.files ?? []) {
    if (!safeRel(f.path)) {
      report.problems.push(`${id}/${f.path}: a path outside the backup's folders`);
      continue;
    }
    await check(`${id}/${f.path}`, join(root, f.path), f.sha256);
  }
  const seen = new Set<string>();
  for (const m of manifest.models ?? []) {
    if (!validRef(m.name, m.version)) {
      report.problems.push(
        `${id}/${MANIFEST_NAME}: model ${m.name}:${m.version} is not a valid name`,
      );
      continue;
    }
    // Versions with the same content share one blob: it is checked once.
    if (seen.has(m.blob)) continue;
    seen.add(m.blob);
    const expected = blobPath(dir, m.sha256, manifest.encryption !== null);
    if (join(dir, m.blob) !== expected) {
      report.problems.push(`${m.blob}: not where the model ${m.name}:${m.version} belongs`);
      continue;
    }
    await check(m.blob, expected, m.storedSha256);
  }
  report.ok = report.problems.length === 0;
  return report;
}

export interface PruneReport {
  removed: string[];
  kept: string[];
  /** Model blobs no remaining backup refers to, removed. */
  blobsRemoved: number;
  bytesFreed: number;
  /** Partial backups of killed creates, removed. */
  partialsRemoved: string[];
}

/**
 * Keeps the `keep` newest complete backups, removes the others and what killed creates left,
 * then the model blobs no remaining backup refers to (not while another create runs: its
 * blobs are not listed anywhere yet).
 */
export function pruneBackups(dir: string, keep: number): PruneReport {
  const { backups } = listBackups(dir);
  const kept = backups.slice(0, keep).map((b) => b.id);
  const removed = backups.slice(keep).map((b) => b.id);
  let bytesFreed = 0;
  for (const id of removed) {
    bytesFreed += folderBytes(join(dir, id));
    rmSync(join(dir, id), { recursive: true, force: true });
  }
  const partialsRemoved = sweepPartials(dir);
  let blobsRemoved = 0;
  const referenced = referencedBlobs(dir, kept);
  if (referenced && partials(dir).every((p) => !p.live)) {
    const blobDir = join(dir, BLOBS_DIR, "sha256");
    for (const name of existsSync(blobDir) ? readdirSync(blobDir) : []) {
      const path = join(blobDir, name);
      const owner = name.endsWith(".sha256") ? path.slice(0, -".sha256".length) : path;
      if (referenced.has(owner)) continue;
      bytesFreed += statSync(path).size;
      rmSync(path, { force: true });
      if (!name.endsWith(".sha256")) blobsRemoved++;
    }
  }
  return { removed, kept, blobsRemoved, bytesFreed, partialsRemoved };
}

/** The blobs the backups refer to; undefined when one manifest cannot be read (keep all). */
function referencedBlobs(dir: string, ids: string[]): Set<string> | undefined {
  const referenced = new Set<string>();
  try {
    for (const id of ids) {
      for (const m of readManifest(dir, id).models) referenced.add(join(dir, m.blob));
    }
  } catch {
    return undefined;
  }
  return referenced;
}

function folderBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? folderBytes(path) : statSync(path).size;
  }
  return total;
}
