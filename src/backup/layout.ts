/**
 * What a backup folder holds. Every backup is a folder named by its id, assembled under a
 * `.partial-` name and renamed into place only when complete, so a crash mid-create leaves
 * nothing that looks complete. Model files are kept once, by content digest, in `blobs/`,
 * shared by every backup of the folder (a model already there is not copied again).
 *
 *   <dir>/<id>/MANIFEST.json          what the backup holds, with the sha256 of every file
 *   <dir>/<id>/MANIFEST.json.sha256   the sha256 of MANIFEST.json itself
 *   <dir>/<id>/SHA256SUMS             the same digests, in the format `sha256sum -c` reads
 *   <dir>/<id>/home/…                 SQLite snapshots, audit.head, batch and file folders
 *   <dir>/<id>/registry/…             the registry index snapshot and every manifest.json
 *   <dir>/<id>/config/…               the config file and the effective config
 *   <dir>/blobs/sha256/<hex>[.enc]    model files by the sha256 of their plaintext
 */
import { join } from "node:path";
import { randomBytes } from "node:crypto";

export const MANIFEST_NAME = "MANIFEST.json";
export const MANIFEST_SUM_NAME = "MANIFEST.json.sha256";
export const SUMS_NAME = "SHA256SUMS";
export const PARTIAL_PREFIX = ".partial-";
export const BLOBS_DIR = "blobs";
export const BACKUP_FORMAT = 1;

/** A backup id: its UTC time to the millisecond and a random suffix, so ids sort by time. */
export function newBackupId(now: Date): string {
  const stamp = now.toISOString().replace(/[-:.]/g, "");
  return `${stamp}-${randomBytes(3).toString("hex")}`;
}

const ID_RE = /^\d{8}T\d{9}Z-[0-9a-f]{6}$/;

/** True for a name `newBackupId` could have made (nothing else in the folder is a backup). */
export function isBackupId(name: string): boolean {
  return ID_RE.test(name);
}

export function blobPath(dir: string, sha256: string, encrypted: boolean): string {
  return join(dir, BLOBS_DIR, "sha256", encrypted ? `${sha256}.enc` : sha256);
}

/** A file of the backup, by its path inside the backup's folder. */
export interface BackupFile {
  path: string;
  sha256: string;
  size: number;
}

/** A registry version whose model file is in `blobs/`. */
export interface BackupModel {
  name: string;
  version: string;
  /** sha256 of the model file itself (its manifest's). */
  sha256: string;
  size: number;
  /** The blob's path relative to the backup folder's root (`blobs/sha256/…`). */
  blob: string;
  /** sha256 and size of the blob as stored (differs from the model's when encrypted). */
  storedSha256: string;
  storedSize: number;
}

export interface BackupManifest {
  format: number;
  id: string;
  bulwarkVersion: string;
  createdAt: string;
  /** The home that was backed up, for the record. */
  home: string;
  /** The last audit entry in the snapshot: a restore's audit chain ends here. */
  auditHead: { seq: number; hash: string } | null;
  /** The data key's id when the files are encrypted, else null. */
  encryption: { algorithm: "aes-256-gcm"; keyId: string } | null;
  includeModels: boolean;
  /** Every registry version in the snapshot, with its model when `includeModels`. */
  registryVersions: { name: string; version: string; sha256: string }[];
  files: BackupFile[];
  models: BackupModel[];
  /** Bytes written by this backup (files, and the model blobs it had to add). */
  bytesWritten: number;
  /** Bytes the backup needs in all (files and every blob it refers to). */
  bytesTotal: number;
}
