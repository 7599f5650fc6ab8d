/**
 * An append-only line file that rotates by size or at UTC midnight and keeps a bounded number
 * of rotated files (access.log → access.log.2026-01-31T00-00-00.000Z). Writes are synchronous:
 * a line is on disk (in the page cache) before the response's close event returns, and a
 * crash cannot lose buffered lines. The file stays open between writes (an open and a close a
 * line cost more than the write); it is opened again every second, so a file moved or deleted
 * by another tool is followed within a second.
 */
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";

export interface RotationOptions {
  /** Rotate when the file would pass this many bytes; 0 never. */
  maxBytes: number;
  /** Rotate when the UTC day changes. */
  daily: boolean;
  /** Rotated files to keep; older ones are deleted. */
  keepFiles: number;
}

/** How long one open file descriptor is written to before the path is opened again, in ms. */
const REOPEN_MS = 1_000;

export class RotatingFile {
  private size: number;
  private day: number;
  private fd: number | undefined;
  private openedAt = 0;

  constructor(
    readonly path: string,
    private readonly options: RotationOptions,
    private readonly now: () => number = Date.now,
  ) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    let stat;
    try {
      stat = statSync(path);
    } catch {
      stat = undefined;
    }
    this.size = stat?.size ?? 0;
    this.day = Math.floor((stat?.mtimeMs ?? now()) / 86_400_000);
  }

  write(line: string): void {
    const bytes = Buffer.byteLength(line) + 1;
    const today = Math.floor(this.now() / 86_400_000);
    const full =
      this.options.maxBytes > 0 && this.size > 0 && this.size + bytes > this.options.maxBytes;
    if (full || (this.options.daily && today !== this.day && this.size > 0)) this.rotate();
    this.day = today;
    const now = Date.now();
    if (this.fd !== undefined && now - this.openedAt > REOPEN_MS) this.close();
    if (this.fd === undefined) {
      this.fd = openSync(this.path, "a", 0o600);
      this.openedAt = now;
    }
    writeSync(this.fd, line + "\n");
    this.size += bytes;
  }

  /** Closes the open descriptor; the next write opens the file again. */
  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }

  private rotate(): void {
    this.close();
    const stamp = new Date(this.now()).toISOString().replace(/:/g, "-");
    let target = `${this.path}.${stamp}`;
    for (let i = 1; rotatedExists(target); i++) target = `${this.path}.${stamp}.${i}`;
    renameSync(this.path, target);
    this.size = 0;
    this.prune();
  }

  /** The rotated files, oldest first. */
  rotated(): string[] {
    const dir = dirname(this.path);
    const prefix = basename(this.path) + ".";
    return readdirSync(dir)
      .filter((f) => f.startsWith(prefix))
      .sort()
      .map((f) => join(dir, f));
  }

  private prune(): void {
    const files = this.rotated();
    for (const f of files.slice(0, Math.max(0, files.length - this.options.keepFiles))) {
      unlinkSync(f);
    }
  }
}

function rotatedExists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}
