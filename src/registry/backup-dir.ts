/**
 * `models backup --to DIR` and `models restore --from DIR`: a folder of
 * <name>/<version>/{model.gguf,manifest.json} with a SHA256SUMS list (the format `sha256sum -c`
 * reads). Restore checks every listed file before it registers anything.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join, normalize, isAbsolute } from "node:path";
import { randomBytes } from "node:crypto";
import { BulwarkError } from "../errors/index.js";
import { writeFileAtomic } from "./fs-atomic.js";
import { sha256File, type ProgressFn } from "./hashing.js";
import { writeBackupCopy } from "./auto-backup.js";
import { MANIFEST_FILE, MODEL_FILE, type Manifest } from "./manifest.js";
import type { Registry } from "./registry.js";
import { formatRef } from "./names.js";

export const SUMS_FILE = "SHA256SUMS";

/** Reads a SHA256SUMS file into path → sha256. */
export function parseSums(text: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line.trim());
    if (m) sums.set(m[2]!, m[1]!);
  }
  return sums;
}

function formatSums(sums: Map<string, string>): string {
  return [...sums.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([path, sha]) => `${sha}  ${path}\n`)
    .join("");
}

/** Copies name:version (with its manifest) into `dir` and adds both to its SHA256SUMS. */
export async function backupTo(registry: Registry, ref: string, dir: string): Promise<string[]> {
  const model = registry.resolve(ref);
  mkdirSync(dir, { recursive: true });
  const rel = `${model.name}/${model.version}`;
  await writeBackupCopy(
    model.path,
    model.manifest,
    join(dir, model.name, model.version),
    `${process.pid}-${randomBytes(6).toString("hex")}`,
  );
  const sumsPath = join(dir, SUMS_FILE);
  const sums = existsSync(sumsPath) ? parseSums(readFileSync(sumsPath, "utf8")) : new Map();
  sums.set(`${rel}/${MODEL_FILE}`, model.manifest.sha256);
  sums.set(`${rel}/${MANIFEST_FILE}`, await sha256File(join(dir, rel, MANIFEST_FILE)));
  writeFileAtomic(sumsPath, formatSums(sums));
  return [`${rel}/${MODEL_FILE}`, `${rel}/${MANIFEST_FILE}`];
}

export interface RestoreReport {
  registered: string[];
  alreadyPresent: string[];
}

/** Verifies every checksum in DIR/SHA256SUMS, then registers each listed model. */
export async function restoreFrom(
  registry: Registry,
  dir: string,
  onProgress?: (label: string) => ProgressFn | undefined,
): Promise<RestoreReport> {
  const sumsPath = join(dir, SUMS_FILE);
  if (!existsSync(sumsPath)) {
    throw new BulwarkError("registry_file_not_found", `${dir} has no ${SUMS_FILE} list`);
  }
  const sums = parseSums(readFileSync(sumsPath, "utf8"));
  if (sums.size === 0) {
    throw new BulwarkError("registry_invalid_model", `${sumsPath} lists no file`);
  }
  const bad: string[] = [];
  for (const [rel, expected] of sums) {
    if (isAbsolute(rel) || normalize(rel).startsWith("..")) {
      bad.push(`${rel}: path outside the backup folder`);
      continue;
    }
    try {
      const actual = await sha256File(join(dir, rel), onProgress?.(rel));
      if (actual !== expected) bad.push(`${rel}: sha256 ${actual}, listed ${expected}`);
    } catch {
      bad.push(`${rel}: missing or unreadable`);
    }
  }
  if (bad.length > 0) {
    throw new BulwarkError(
      "registry_checksum_mismatch",
      `nothing restored; the backup fails its checksums:\n  ${bad.join("\n  ")}`,
    );
  }
  const report: RestoreReport = { registered: [], alreadyPresent: [] };
  for (const rel of sums.keys()) {
    if (!rel.endsWith(`/${MANIFEST_FILE}`)) continue;
    const manifest = JSON.parse(readFileSync(join(dir, rel), "utf8")) as Manifest;
    const modelRel = rel.slice(0, -MANIFEST_FILE.length) + MODEL_FILE;
    if (sums.get(modelRel) !== manifest.sha256) {
      throw new BulwarkError(
        "registry_checksum_mismatch",
        `${modelRel}: not listed, or listed with another sha256 than its manifest`,
      );
    }
    const key = formatRef(manifest.name, manifest.version);
    const existing = registry.has(manifest.name, manifest.version);
    if (existing) {
      if (existing.sha256 !== manifest.sha256) {
        throw new BulwarkError(
          "registry_version_exists",
          `${key} is registered with another sha256; remove it first to restore this copy`,
        );
      }
      report.alreadyPresent.push(key);
      continue;
    }
    await registry.import(join(dir, modelRel), {
      name: manifest.name,
      version: manifest.version,
      source: manifest.source,
      expectSha256: manifest.sha256,
      onProgress: onProgress?.(key),
    });
    report.registered.push(key);
  }
  return report;
}
