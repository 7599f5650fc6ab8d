/**
 * The model registry: versioned GGUF files with manifests under one folder, an index in SQLite,
 * the `latest` alias with its history, full and quick integrity checks, and the repair of a
 * damaged file from its backup copy.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { copyFile, rename, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { BulwarkError } from "../errors/index.js";
import type { Logger } from "../observability/index.js";
import { fsyncDir, writeFileAtomic } from "./fs-atomic.js";
import { copyWithHash, fingerprintFile, sha256File, type ProgressFn } from "./hashing.js";
import { RegistryIndex, type VersionRow } from "./index-db.js";
import { ggufInspector, InvalidModelError, type ModelInspector } from "./inspect.js";
import { IMPORT_MARKER, pidAlive, RegistryLayout } from "./layout.js";
import { MANIFEST_FILE, MODEL_FILE, type Manifest } from "./manifest.js";
import { checkPart, formatRef, InvalidNameError, LATEST, parseRef } from "./names.js";
import { pruneBackups, writeBackupCopy } from "./auto-backup.js";

/** A problem that needs a person: a damaged model file, a failed repair. */
export interface RegistryAlert {
  kind: "model_corrupted" | "model_restored" | "model_unrecoverable" | "verify_failed";
  model: string;
  version: string;
  message: string;
}

export interface RegistryOptions {
  dir: string;
  /** Folder of the automatic backup copies; default <dir>/.backups. */
  backupDir?: string;
  /** Backup copies kept per model name; 0 turns them off. */
  backupsToKeep: number;
  inspector?: ModelInspector;
  logger?: Logger;
  onAlert?: (alert: RegistryAlert) => void;
  now?: () => Date;
}

export interface ImportOptions {
  name: string;
  version?: string;
  /** Where the file came from, for the manifest; default `file:<path>`. */
  source?: string;
  /** Point `latest` at the new version (the first version of a name always gets it). */
  promote?: boolean;
  /** Move the file into the registry instead of copying it (used for finished downloads). */
  move?: boolean;
  /** Called when the file is not GGUF and is being converted. */
  onConvert?: () => void;
  /** Refuse the import unless the file's sha256 is this. */
  expectSha256?: string;
  onProgress?: ProgressFn;
}

export interface ListedVersion {
  name: string;
  version: string;
  aliases: string[];
  size: number;
  sha256: string;
  architecture: string | null;
  quantization: string | null;
  createdAt: string;
  backedUp: boolean;
}

export interface ResolvedModel {
  name: string;
  version: string;
  path: string;
  manifest: Manifest;
}

export interface VerifyResult {
  name: string;
  version: string;
  ok: boolean;
  expected: string;
  actual: string | null;
  problem?: string;
}

function invalidName(err: unknown): never {
  if (err instanceof InvalidNameError) throw new BulwarkError("registry_invalid_name", err.message);
  throw err;
}

export class Registry {
  readonly layout: RegistryLayout;
  private readonly index: RegistryIndex;
  private readonly inspector: ModelInspector;
  private readonly now: () => Date;

  constructor(private readonly options: RegistryOptions) {
    this.layout = new RegistryLayout(
      options.dir,
      options.backupDir || join(options.dir, ".backups"),
    );
    mkdirSync(options.dir, { recursive: true });
    mkdirSync(this.layout.staging, { recursive: true });
    this.index = new RegistryIndex(this.layout.indexFile);
    this.inspector = options.inspector ?? ggufInspector;
    this.now = options.now ?? (() => new Date());
    this.sweep();
  }

  close(): void {
    this.index.close();
  }

  /**
   * Removes what an interrupted import left: staging folders of dead processes and version
   * folders still marked as being imported by a dead process. A live import is left alone.
   */
  private sweep(): void {
    for (const entry of readdirSync(this.layout.staging)) {
      const pid = Number(entry.split("-")[0]);
      if (!Number.isInteger(pid) || !pidAlive(pid)) {
        rmSync(join(this.layout.staging, entry), { recursive: true, force: true });
        this.options.logger?.warn({ entry }, "removed an interrupted import");
      }
    }
    for (const name of readdirSync(this.options.dir)) {
      if (name.startsWith(".") || name === "index.db" || name.startsWith("index.db-")) continue;
      const nameDir = join(this.options.dir, name);
      let versions: string[];
      try {
        versions = readdirSync(nameDir);
      } catch {
        continue;
      }
      for (const version of versions) {
        if (this.index.get(name, version)) continue;
        // Only folders an import marked as unfinished go: anything else (another program's
        // file, a folder whose index row was lost) is left for a person to look at.
        const marker = join(nameDir, version, IMPORT_MARKER);
        if (!existsSync(marker)) continue;
        const pid = Number(readFileSync(marker, "utf8"));
        if (Number.isInteger(pid) && pidAlive(pid) && pid !== process.pid) continue;
        rmSync(join(nameDir, version), { recursive: true, force: true });
        this.options.logger?.warn({ model: formatRef(name, version) }, "removed a half import");
      }
    }
  }

  /** The next free numeric version of a name: 1, 2, … */
  private nextVersion(name: string): string {
    const numbers = this.index
      .list(name)
      .map((r) => Number(r.version))
      .filter((n) => Number.isInteger(n) && n > 0);
    return String(numbers.length ? Math.max(...numbers) + 1 : 1);
  }

  /** Imports a GGUF: validates, copies with a streaming sha256, records the manifest. */
  async import(file: string, opts: ImportOptions): Promise<Manifest> {
    let name: string;
    let version: string;
    try {
      name = checkPart(opts.name, "name");
      version = checkPart(opts.version ?? this.nextVersion(opts.name), "version");
    } catch (err) {
      invalidName(err);
    }
    if (version === LATEST) {
      throw new BulwarkError("registry_invalid_name", `"${LATEST}" is the alias, not a version`);
    }
    if (this.index.get(name, version) || existsSync(this.layout.versionDir(name, version))) {
      throw new BulwarkError(
        "registry_version_exists",
        `${formatRef(name, version)} is already in the registry; pick another --version`,
      );
    }
    const source = file;
    try {
      await stat(file);
    } catch {
      throw new BulwarkError("registry_file_not_found", `cannot read the file ${file}`);
    }
    const stage = join(this.layout.staging, `${process.pid}-${randomBytes(6).toString("hex")}`);
    mkdirSync(stage);
    try {
      let move = opts.move ?? false;
      let facts;
      try {
        if ((await this.inspector.detect(file)) !== "gguf") {
          // Other formats become GGUF first; the converted file is then moved into place.
          opts.onConvert?.();
          const converted = join(stage, "converted.gguf");
          await this.inspector.convert(file, converted);
          file = converted;
          move = true;
        }
        facts = await this.inspector.inspect(file);
      } catch (err) {
        if (err instanceof InvalidModelError) {
          throw new BulwarkError("registry_invalid_model", `${source}: ${err.message}`);
        }
        throw err;
      }
      const staged = join(stage, MODEL_FILE);
      let sha256: string;
      if (move) {
        await rename(file, staged);
        sha256 = await sha256File(staged, opts.onProgress);
      } else {
        sha256 = (await copyWithHash(file, staged, opts.onProgress)).sha256;
      }
      if (opts.expectSha256 && opts.expectSha256.toLowerCase() !== sha256) {
        throw new BulwarkError(
          "registry_checksum_mismatch",
          `the file's sha256 is ${sha256}, expected ${opts.expectSha256}`,
        );
      }
      const { size, fingerprint } = await fingerprintFile(staged);
      const manifest: Manifest = {
        name,
        version,
        sha256,
        size,
        fingerprint,
        ...facts,
        source: opts.source ?? `file:${source}`,
        createdAt: this.now().toISOString(),
      };
      writeFileAtomic(join(stage, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + "\n");
      writeFileAtomic(join(stage, IMPORT_MARKER), String(process.pid));
      mkdirSync(join(this.options.dir, name), { recursive: true });
      // The folder appears complete or not at all; until the index has its row, the marker
      // tells a sweep that this process is still registering it.
      renameSync(stage, this.layout.versionDir(name, version));
      fsyncDir(join(this.options.dir, name));
      this.index.insert(manifest);
      await unlink(join(this.layout.versionDir(name, version), IMPORT_MARKER));
      if (opts.promote || !this.index.alias(name, LATEST)) {
        this.index.setAlias(name, LATEST, version, this.now().toISOString());
      }
      await this.autoBackup(manifest);
      return manifest;
    } finally {
      rmSync(stage, { recursive: true, force: true });
    }
  }

  private async autoBackup(manifest: Manifest): Promise<void> {
    if (this.options.backupsToKeep <= 0) return;
    const { name, version } = manifest;
    await writeBackupCopy(
      this.layout.modelFile(name, version),
      manifest,
      this.layout.backupVersionDir(name, version),
      `${process.pid}-${randomBytes(6).toString("hex")}`,
    );
    pruneBackups(join(this.layout.backupDir, name), this.options.backupsToKeep);
  }

  /**
   * Writes the automatic backup copy of the newest `backupsToKeep` versions of each name that
   * have none (a registry restored from a whole-state backup), so that the repair at load has
   * them again. Returns the versions copied.
   */
  async backfillBackupCopies(): Promise<string[]> {
    const keep = this.options.backupsToKeep;
    if (keep <= 0) return [];
    const newest = new Map<string, VersionRow[]>();
    for (const row of this.index.list())
      newest.set(row.name, [...(newest.get(row.name) ?? []), row]);
    const made: string[] = [];
    for (const rows of newest.values()) {
      // The index lists a name's versions oldest first.
      const recent = rows.slice(-keep);
      for (const row of recent) {
        if (existsSync(this.layout.backupModelFile(row.name, row.version))) continue;
        await this.autoBackup(row.manifest);
        made.push(formatRef(row.name, row.version));
      }
    }
    return made;
  }

  /** Every version with its aliases, oldest first within a name. */
  list(): ListedVersion[] {
    return this.index.list().map((row) => ({
      name: row.name,
      version: row.version,
      aliases: this.index
        .aliasesOf(row.name)
        .filter((a) => a.version === row.version)
        .map((a) => a.alias),
      size: row.size,
      sha256: row.sha256,
      architecture: row.manifest.architecture,
      quantization: row.manifest.quantization,
      createdAt: row.createdAt,
      backedUp: existsSync(this.layout.backupModelFile(row.name, row.version)),
    }));
  }

  private row(ref: string): VersionRow {
    let parsed;
    try {
      parsed = parseRef(ref);
    } catch (err) {
      invalidName(err);
    }
    const version = this.index.alias(parsed.name, parsed.tag) ?? parsed.tag;
    const row = this.index.get(parsed.name, version);
    if (!row) {
      throw new BulwarkError("registry_model_not_found", `${ref} is not in the registry`);
    }
    return row;
  }

  /** Resolves `name`, `name:latest` or `name:version` to a file. */
  resolve(ref: string): ResolvedModel {
    const row = this.row(ref);
    return {
      name: row.name,
      version: row.version,
      path: this.layout.modelFile(row.name, row.version),
      manifest: row.manifest,
    };
  }

  /** The version `name:latest` points at now, if any. */
  latest(name: string): string | undefined {
    return this.index.alias(name, LATEST);
  }

  /** Points `latest` at name:version. */
  promote(ref: string): ResolvedModel {
    const resolved = this.resolve(ref);
    this.index.setAlias(resolved.name, LATEST, resolved.version, this.now().toISOString());
    return resolved;
  }

  /** The version rollback() would move `latest` back to, if there is one. */
  rollbackTarget(name: string): string | undefined {
    return this.index.peekAlias(name, LATEST);
  }

  /** Moves `latest` back to the version it pointed at before. */
  rollback(name: string): ResolvedModel {
    try {
      checkPart(name, "name");
    } catch (err) {
      invalidName(err);
    }
    const version = this.index.popAlias(name, LATEST, this.now().toISOString());
    if (!version) {
      if (this.index.list(name).length === 0) {
        throw new BulwarkError("registry_model_not_found", `${name} is not in the registry`);
      }
      throw new BulwarkError(
        "registry_no_rollback",
        `${name}:latest has no earlier version to roll back to`,
      );
    }
    return this.resolve(formatRef(name, version));
  }

  /**
   * Removes name:version (its folder and its backup copy). Refused while it is aliased or in
   * `serving`, unless forced.
   */
  remove(ref: string, opts: { force?: boolean; serving?: ReadonlySet<string> } = {}): void {
    const row = this.row(ref);
    const key = formatRef(row.name, row.version);
    const serving = new Set(opts.serving ?? []);
    for (const s of this.servingVersions()) serving.add(formatRef(s.name, s.version));
    const aliases = this.index.aliasesOf(row.name).filter((a) => a.version === row.version);
    if (!opts.force && (aliases.length > 0 || serving.has(key))) {
      const why = serving.has(key)
        ? "it is serving"
        : `${row.name}:${aliases.map((a) => a.alias).join(", ")} points at it`;
      throw new BulwarkError(
        "registry_model_in_use",
        `${key} is in use (${why}); promote another version first or pass --force`,
      );
    }
    this.index.delete(row.name, row.version);
    rmSync(this.layout.versionDir(row.name, row.version), { recursive: true, force: true });
    rmSync(this.layout.backupVersionDir(row.name, row.version), { recursive: true, force: true });
  }

  /** Recomputes the full sha256 of one version, every version of a name, or everything. */
  async verify(
    ref?: string,
    onProgress?: (label: string) => ProgressFn | undefined,
  ): Promise<VerifyResult[]> {
    let rows: VersionRow[];
    if (!ref) rows = this.index.list();
    else if (ref.includes(":")) rows = [this.row(ref)];
    else {
      rows = this.index.list(ref);
      if (rows.length === 0) this.row(ref);
    }
    const results: VerifyResult[] = [];
    for (const row of rows) {
      const key = formatRef(row.name, row.version);
      const result: VerifyResult = {
        name: row.name,
        version: row.version,
        ok: false,
        expected: row.sha256,
        actual: null,
      };
      try {
        result.actual = await sha256File(
          this.layout.modelFile(row.name, row.version),
          onProgress?.(key),
        );
        result.ok = result.actual === row.sha256;
        if (!result.ok) result.problem = "sha256 differs from the manifest";
      } catch (err) {
        result.problem = `cannot read the file (${(err as NodeJS.ErrnoException).code ?? "error"})`;
      }
      if (!result.ok) {
        this.alert({
          kind: "verify_failed",
          model: row.name,
          version: row.version,
          message: `${key}: ${result.problem}`,
        });
      }
      results.push(result);
    }
    return results;
  }

  private alert(alert: RegistryAlert): void {
    const level = alert.kind === "model_restored" ? "warn" : "error";
    this.options.logger?.[level](
      { alert: alert.kind, model: formatRef(alert.model, alert.version) },
      alert.message,
    );
    try {
      this.options.onAlert?.(alert);
    } catch {
      // An alert sink must not stop the repair.
    }
  }

  /**
   * The check before every load: size and fingerprint against the manifest. A damaged file is
   * refused (alert + log line), replaced from its backup copy, verified in full, and then
   * accepted; without a good backup the load is refused with registry_checksum_mismatch.
   */
  async checkForLoad(name: string, version: string): Promise<"ok" | "restored"> {
    const row = this.row(formatRef(name, version));
    const key = formatRef(name, version);
    const file = this.layout.modelFile(name, version);
    let problem: string | undefined;
    try {
      const fp = await fingerprintFile(file);
      if (fp.size !== row.size) {
        problem = `size is ${fp.size} bytes, the manifest says ${row.size} (truncated or grown)`;
      } else if (fp.fingerprint !== row.fingerprint) {
        problem = "fingerprint (first and last MiB) differs from the manifest";
      }
    } catch (err) {
      problem = `cannot read the file (${(err as NodeJS.ErrnoException).code ?? "error"})`;
    }
    if (!problem) return "ok";
    await this.repair(name, version, `refusing to load ${key}: ${problem}`);
    return "restored";
  }

  /**
   * Replaces a damaged file with its backup copy: alert, check the copy's sha256, copy it
   * beside the file, verify the copy in full, rename it into place. Throws
   * registry_checksum_mismatch when there is no intact copy.
   */
  async repair(name: string, version: string, problem: string): Promise<void> {
    const row = this.row(formatRef(name, version));
    const key = formatRef(name, version);
    const file = this.layout.modelFile(name, version);
    this.alert({ kind: "model_corrupted", model: name, version, message: problem });
    const backup = this.layout.backupModelFile(name, version);
    if (!existsSync(backup) || (await sha256File(backup)) !== row.sha256) {
      const message = `${key} is damaged and has no intact backup copy; restore it with \`bulwark models restore\``;
      this.alert({ kind: "model_unrecoverable", model: name, version, message });
      throw new BulwarkError("registry_checksum_mismatch", message);
    }
    const tmp = join(this.layout.versionDir(name, version), `.${MODEL_FILE}.restore`);
    await copyFile(backup, tmp);
    const restored = await sha256File(tmp);
    if (restored !== row.sha256) {
      await unlink(tmp);
      throw new BulwarkError("registry_checksum_mismatch", `${key}: the restored copy differs`);
    }
    await rename(tmp, file);
    fsyncDir(this.layout.versionDir(name, version));
    this.alert({
      kind: "model_restored",
      model: name,
      version,
      message: `${key} restored from its backup copy and verified (sha256 ${row.sha256})`,
    });
  }

  /** Records that this process now serves name:version (null: no longer serves the name). */
  markServing(name: string, version: string | null): void {
    this.index.setServing(process.pid, name, version);
  }

  /** Versions served by live processes; rows of dead ones are dropped on the way. */
  servingVersions(): { pid: number; name: string; version: string }[] {
    const rows = this.index.serving();
    for (const r of rows.filter((r) => !pidAlive(r.pid)))
      this.index.setServing(r.pid, r.name, null);
    return rows.filter((r) => pidAlive(r.pid));
  }

  /** True when name:version is registered. */
  has(name: string, version: string): VersionRow | undefined {
    return this.index.get(name, version);
  }
}
