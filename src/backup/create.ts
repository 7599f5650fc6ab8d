/**
 * `backup create`: a consistent snapshot of a Bulwark home while it serves. SQLite files go
 * through the online backup API; the audit head is taken from the snapshot itself, so the
 * restored chain verifies; model files go by content digest into the shared `blobs/` folder
 * (one already there is not copied again). The backup is assembled under a `.partial-` name
 * and renamed into place only when its MANIFEST is written.
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import { BulwarkError } from "../errors/index.js";
import { copyWithHash, sha256File } from "../registry/hashing.js";
import { fsyncDir, writeFileAtomic } from "../registry/fs-atomic.js";
import { MANIFEST_FILE, MODEL_FILE } from "../registry/manifest.js";
import type { DataKey } from "./data-key.js";
import { encryptFile } from "./encrypted-file.js";
import { formatSums, markInProgress, partialName, sweepPartials, walkFiles } from "./files.js";
import {
  BACKUP_FORMAT,
  blobPath,
  MANIFEST_NAME,
  MANIFEST_SUM_NAME,
  newBackupId,
  SUMS_NAME,
  type BackupFile,
  type BackupManifest,
  type BackupModel,
} from "./layout.js";
import { auditHeadOf, registryVersionsOf, snapshotSqlite } from "./sqlite-snapshot.js";

/** Folders of a home that hold state beside the SQLite files (batch and file uploads). */
export const STATE_FOLDERS = ["files", "batches"] as const;

export interface CreateOptions {
  /** The home to back up. */
  home: string;
  /** The registry folder (registry.dir, else <home>/models). */
  registryDir: string;
  /** The backup folder. */
  dir: string;
  includeModels: boolean;
  /** Encrypt every file with this key. */
  key?: DataKey;
  /** The config file in use, if any, kept as it is. */
  configFile?: string;
  /** The effective configuration, kept as JSON. */
  effectiveConfig: unknown;
  now?: () => Date;
}

export interface CreateResult {
  id: string;
  path: string;
  manifest: BackupManifest;
  durationMs: number;
}

/**
 * The config file a command or a server started without --config reads: $BULWARK_CONFIG, else
 * ./bulwark.yaml when it exists (as loadConfig chooses).
 */
export function configFileInUse(explicit?: string): string | undefined {
  const file = explicit ?? process.env.BULWARK_CONFIG;
  if (file) return file;
  return existsSync("bulwark.yaml") ? join(process.cwd(), "bulwark.yaml") : undefined;
}

let cachedVersion: string | undefined;
/** The version in package.json. */
export function bulwarkVersion(): string {
  if (!cachedVersion) {
    const pkg = new URL("../../../package.json", import.meta.url);
    cachedVersion = (JSON.parse(readFileSync(pkg, "utf8")) as { version: string }).version;
  }
  return cachedVersion;
}

/** Writes the files of one backup into its partial folder, then renames it into place. */
export async function createBackup(options: CreateOptions): Promise<CreateResult> {
  const started = Date.now();
  const now = options.now ?? (() => new Date());
  const createdAt = now();
  const id = newBackupId(createdAt);
  mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  sweepPartials(options.dir);
  const partial = join(options.dir, partialName(id));
  markInProgress(partialName(id), true);
  mkdirSync(partial, { mode: 0o700 });
  try {
    const writer = new BackupWriter(partial, options.key);
    const { auditHead } = await writer.home(options.home);
    const versions = await writer.registry(options.registryDir);
    const models = options.includeModels
      ? await copyModels(options.dir, options.registryDir, versions, options.key)
      : [];
    await writer.config(options.configFile, options.effectiveConfig);
    const filesBytes = writer.files.reduce((n, f) => n + f.size, 0);
    const manifest: BackupManifest = {
      format: BACKUP_FORMAT,
      id,
      bulwarkVersion: bulwarkVersion(),
      createdAt: createdAt.toISOString(),
      home: options.home,
      auditHead,
      encryption: options.key ? { algorithm: "aes-256-gcm", keyId: options.key.id } : null,
      includeModels: options.includeModels,
      registryVersions: versions.map((v) => ({
        name: v.name,
        version: v.version,
        sha256: v.sha256,
      })),
      files: writer.files,
      models: models.map((m) => m.model),
      bytesWritten: filesBytes + models.reduce((n, m) => n + m.written, 0),
      bytesTotal: filesBytes + models.reduce((n, m) => n + m.model.storedSize, 0),
    };
    const text = JSON.stringify(manifest, null, 2) + "\n";
    writeFileAtomic(join(partial, SUMS_NAME), formatSums(writer.files));
    writeFileAtomic(join(partial, MANIFEST_NAME), text);
    writeFileAtomic(
      join(partial, MANIFEST_SUM_NAME),
      `${await sha256File(join(partial, MANIFEST_NAME))}  ${MANIFEST_NAME}\n`,
    );
    fsyncDir(partial);
    const path = join(options.dir, id);
    renameSync(partial, path);
    fsyncDir(options.dir);
    return { id, path, manifest, durationMs: Date.now() - started };
  } catch (err) {
    rmSync(partial, { recursive: true, force: true });
    throw err;
  } finally {
    markInProgress(partialName(id), false);
  }
}

/** Places files in the partial backup, encrypted when a key is given, and lists their digests. */
class BackupWriter {
  readonly files: BackupFile[] = [];

  constructor(
    private readonly root: string,
    private readonly key: DataKey | undefined,
  ) {}

  /** A plaintext temp file beside where `rel` goes. */
  private temp(rel: string): string {
    const dest = join(this.root, rel);
    mkdirSync(dirname(dest), { recursive: true, mode: 0o700 });
    return `${dest}.${randomBytes(4).toString("hex")}.plain`;
  }

  /** Moves the plaintext `tmp` to `rel` (encrypting it on the way) and records its digest. */
  private async place(tmp: string, rel: string): Promise<void> {
    const dest = join(this.root, rel);
    let sha256: string;
    let size: number;
    if (this.key) {
      ({ sha256, size } = await encryptFile(tmp, dest, this.key.key));
      unlinkSync(tmp);
    } else {
      renameSync(tmp, dest);
      sha256 = await sha256File(dest);
      size = statSync(dest).size;
    }
    this.files.push({ path: rel, sha256, size });
  }

  private async copy(src: string, rel: string): Promise<void> {
    const tmp = this.temp(rel);
    copyFileSync(src, tmp);
    await this.place(tmp, rel);
  }

  private async write(rel: string, data: string): Promise<void> {
    const tmp = this.temp(rel);
    writeFileSync(tmp, data, { mode: 0o600 });
    await this.place(tmp, rel);
  }

  /** Every SQLite file at the top of the home, audit.head from the snapshot, state folders. */
  async home(home: string): Promise<{ auditHead: BackupManifest["auditHead"] }> {
    let auditHead: BackupManifest["auditHead"] = null;
    const dbs = existsSync(home)
      ? readdirSync(home).filter((f) => f.endsWith(".db") && statSync(join(home, f)).isFile())
      : [];
    for (const db of dbs.sort()) {
      const rel = `home/${db}`;
      const tmp = this.temp(rel);
      await snapshotSqlite(join(home, db), tmp);
      if (db === "bulwark.db") auditHead = auditHeadOf(tmp);
      await this.place(tmp, rel);
    }
    if (auditHead) await this.write("home/audit.head", `${auditHead.seq} ${auditHead.hash}\n`);
    for (const folder of STATE_FOLDERS) {
      for (const rel of walkFiles(join(home, folder))) {
        await this.copy(join(home, folder, rel), `home/${folder}/${rel}`);
      }
    }
    return { auditHead };
  }

  /** The registry index snapshot and every version's manifest.json; returns the versions. */
  async registry(registryDir: string) {
    const index = join(registryDir, "index.db");
    if (!existsSync(index)) return [];
    const tmp = this.temp("registry/index.db");
    await snapshotSqlite(index, tmp);
    const versions = registryVersionsOf(tmp);
    await this.place(tmp, "registry/index.db");
    for (const v of versions) {
      const rel = `registry/${v.name}/${v.version}/${MANIFEST_FILE}`;
      const file = join(registryDir, v.name, v.version, MANIFEST_FILE);
      // The index row holds the same manifest; it stands in for a file someone removed.
      if (existsSync(file)) await this.copy(file, rel);
      else await this.write(rel, JSON.stringify(JSON.parse(v.manifest), null, 2) + "\n");
    }
    return versions;
  }

  async config(configFile: string | undefined, effective: unknown): Promise<void> {
    if (configFile && existsSync(configFile)) await this.copy(configFile, "config/bulwark.yaml");
    await this.write("config/effective.json", JSON.stringify(effective, null, 2) + "\n");
  }
}

/**
 * Puts each version's model into `blobs/` unless it is already there; a copy whose sha256
 * differs from the manifest stops the backup (the served file is damaged: `models verify`).
 */
async function copyModels(
  dir: string,
  registryDir: string,
  versions: { name: string; version: string; sha256: string; size: number }[],
  key: DataKey | undefined,
): Promise<{ model: BackupModel; written: number }[]> {
  const out: { model: BackupModel; written: number }[] = [];
  for (const v of versions) {
    const blob = blobPath(dir, v.sha256, key !== undefined);
    const rel = blob.slice(dir.length + 1);
    const src = join(registryDir, v.name, v.version, MODEL_FILE);
    let stored = existingBlob(blob, v.size, key !== undefined);
    let written = 0;
    if (!stored) {
      mkdirSync(dirname(blob), { recursive: true, mode: 0o700 });
      const tmp = `${blob}.${process.pid}-${randomBytes(4).toString("hex")}.tmp`;
      try {
        let plainSha256: string;
        if (key) {
          const w = await encryptFile(src, tmp, key.key);
          plainSha256 = w.plainSha256;
          stored = { sha256: w.sha256, size: w.size };
        } else {
          const w = await copyWithHash(src, tmp);
          plainSha256 = w.sha256;
          stored = { sha256: w.sha256, size: w.size };
        }
        if (plainSha256 !== v.sha256) {
          throw new BulwarkError(
            "backup_failed",
            `${v.name}:${v.version}: the model file's sha256 differs from its manifest; ` +
              "run `bulwark models verify` (nothing of this backup was kept)",
          );
        }
        if (key) writeFileAtomic(`${blob}.sha256`, `${stored.sha256} ${stored.size}\n`);
        renameSync(tmp, blob);
        fsyncDir(dirname(blob));
        written = stored.size;
      } finally {
        rmSync(tmp, { force: true });
      }
    }
    out.push({
      model: {
        name: v.name,
        version: v.version,
        sha256: v.sha256,
        size: v.size,
        blob: rel,
        storedSha256: stored.sha256,
        storedSize: stored.size,
      },
      written,
    });
  }
  return out;
}

/** The digest and size of a blob already in the folder, when it can be reused as it is. */
function existingBlob(
  blob: string,
  size: number,
  encrypted: boolean,
): { sha256: string; size: number } | undefined {
  if (!existsSync(blob)) return undefined;
  const actual = statSync(blob).size;
  if (!encrypted) return actual === size ? { sha256: blob.slice(-64), size } : undefined;
  try {
    const [sha256, recorded] = readFileSync(`${blob}.sha256`, "utf8").trim().split(" ");
    if (sha256 && Number(recorded) === actual) return { sha256, size: actual };
  } catch {
    // No record of the encrypted blob's digest: write it again.
  }
  return undefined;
}
