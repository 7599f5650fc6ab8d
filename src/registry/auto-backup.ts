/** The backup copy made on import, and keeping only the newest N per model name. */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { copyWithHash } from "./hashing.js";
import { fsyncDir, writeFileAtomic } from "./fs-atomic.js";
import { MANIFEST_FILE, MODEL_FILE, type Manifest } from "./manifest.js";

/** Copies a model and its manifest into `dest` (assembled beside it, renamed into place). */
export async function writeBackupCopy(
  modelFile: string,
  manifest: Manifest,
  dest: string,
  tag: string,
): Promise<void> {
  const parent = dirname(dest);
  mkdirSync(parent, { recursive: true });
  const stage = join(parent, `.stage-${tag}`);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage);
  try {
    const { sha256 } = await copyWithHash(modelFile, join(stage, MODEL_FILE));
    if (sha256 !== manifest.sha256) {
      throw new Error(
        `backup copy of ${manifest.name}:${manifest.version} differs from its source`,
      );
    }
    writeFileAtomic(join(stage, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + "\n");
    rmSync(dest, { recursive: true, force: true });
    renameSync(stage, dest);
    fsyncDir(parent);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/** Keeps the `keep` newest backup copies (by manifest createdAt) in a model's backup folder. */
export function pruneBackups(nameDir: string, keep: number): string[] {
  if (!existsSync(nameDir)) return [];
  const copies = readdirSync(nameDir)
    .filter((v) => !v.startsWith("."))
    .map((version) => {
      let createdAt = "";
      try {
        const m = JSON.parse(
          readFileSync(join(nameDir, version, MANIFEST_FILE), "utf8"),
        ) as Manifest;
        createdAt = m.createdAt;
      } catch {
        // A copy without a readable manifest sorts oldest and goes first.
      }
      return { version, createdAt };
    })
    .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
  const dropped = copies.slice(keep).map((c) => c.version);
  for (const version of dropped) rmSync(join(nameDir, version), { recursive: true, force: true });
  return dropped;
}
