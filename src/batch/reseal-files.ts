/**
 * Re-encryption of batch files after a data key rotation (`bulwark keys reseal`): every line
 * sealed with a previous key is sealed again with the current one. A file is read one line at a
 * time into a temporary file beside it, fsynced and renamed over the original only when a line
 * changed, so memory holds one line and a crash leaves either the old file or the new one. A
 * resealed line keeps its length, so the ledger's offsets into the file still hold.
 *
 * Files of unfinished batches (their results are still being appended) are left for a later
 * run; input files never change once uploaded, and a file deleted meanwhile is not brought back.
 */
import { existsSync, openSync, readdirSync, renameSync, rmSync } from "node:fs";
import { closeSync, fsyncSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { Keyring } from "../crypto/index.js";
import { fileLines } from "./file-lines.js";
import { resealLine } from "./line-codec.js";

export interface FileResealCounts {
  /** Files looked at. */
  files: number;
  /** Files rewritten because at least one line changed. */
  resealedFiles: number;
  resealedLines: number;
  /** Files of batches still running, left for a later run. */
  busy: number;
  /** Lines no key of the ring opens (left as they are; their file is not rewritten). */
  unreadable: number;
}

const SUFFIX = ".jsonl";

/** Reseals the batch files under `dir`; `busy` names the files that must not be touched. */
export async function resealBatchFiles(
  dir: string,
  ring: Keyring,
  busy: ReadonlySet<string>,
  onFile?: (counts: FileResealCounts, total: number) => void,
): Promise<FileResealCounts> {
  const names = existsSync(dir)
    ? readdirSync(dir)
        .filter((n) => n.endsWith(SUFFIX))
        .sort()
    : [];
  const counts: FileResealCounts = {
    files: 0,
    resealedFiles: 0,
    resealedLines: 0,
    busy: 0,
    unreadable: 0,
  };
  for (const name of names) {
    const id = name.slice(0, -SUFFIX.length);
    counts.files++;
    if (busy.has(id)) counts.busy++;
    else await resealFile(join(dir, name), id, ring, counts);
    onFile?.(counts, names.length);
  }
  return counts;
}

async function resealFile(
  path: string,
  id: string,
  ring: Keyring,
  counts: FileResealCounts,
): Promise<void> {
  const temp = `${path}.reseal-${randomBytes(6).toString("hex")}`;
  const fd = openSync(temp, "wx", 0o600);
  let changed = 0;
  let unreadable = 0;
  try {
    for await (const { line, newline } of fileLines(path)) {
      let next = line;
      try {
        next = resealLine(ring, id, line);
      } catch {
        unreadable++;
      }
      if (next !== line) changed++;
      writeSync(fd, next);
      if (newline) writeSync(fd, NEWLINE);
    }
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw err;
  }
  closeSync(fd);
  counts.unreadable += unreadable;
  // A file with a line no key opens stays as it is: rewriting it would change nothing for that
  // line, and leaving the file whole keeps it for whoever holds the missing key.
  if (changed === 0 || unreadable > 0 || !existsSync(path)) {
    rmSync(temp, { force: true });
    return;
  }
  renameSync(temp, path);
  counts.resealedFiles++;
  counts.resealedLines += changed;
}

const NEWLINE = Buffer.from("\n");
