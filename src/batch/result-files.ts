/**
 * A batch's output and error files, appended one line at a time with an fsync after each, so
 * that a line the ledger records as done is on disk. After a crash, `recover` compares each
 * file with the ledger: a whole line written after the last one recorded (the server died
 * between the fsync and the ledger's update) is adopted as that line's result, so it never runs
 * again; a partial last line is cut off.
 */
import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, readSync } from "node:fs";
import { open } from "node:fs/promises";
import type { FileStore } from "./file-store.js";
import type { BatchLedger, BatchRow } from "./ledger.js";

export type ResultFile = "output" | "error";

export class ResultFiles {
  /** The appends of each file, one after another (each learns its offset from the size). */
  private readonly tails = new Map<string, Promise<unknown>>();

  constructor(private readonly store: FileStore) {}

  /**
   * Appends one JSON line and fsyncs it; resolves to where it lies. Asynchronous, so that an
   * fsync on a busy disk never holds the event loop (and the interactive requests) up.
   */
  append(fileId: string, line: string): Promise<{ offset: number; length: number }> {
    const previous = this.tails.get(fileId) ?? Promise.resolve();
    const next = previous.then(async () => {
      const handle = await open(this.store.path(fileId), "a", 0o600);
      try {
        const offset = (await handle.stat()).size;
        const buf = this.store.encodeLine(fileId, Buffer.from(line, "utf8"));
        await handle.write(buf);
        await handle.sync();
        return { offset, length: buf.length };
      } finally {
        await handle.close();
      }
    });
    const settled = next.catch(() => undefined);
    this.tails.set(fileId, settled);
    void settled.then(() => {
      if (this.tails.get(fileId) === settled) this.tails.delete(fileId);
    });
    return next;
  }

  /** The custom_id of a stored result line; undefined for one that does not open or parse. */
  private customIdOf(fileId: string, stored: Buffer): string | undefined {
    try {
      const text = this.store.decodeLine(fileId, stored).toString("utf8");
      const id = (JSON.parse(text) as { custom_id?: unknown }).custom_id;
      return typeof id === "string" ? id : undefined;
    } catch {
      return undefined;
    }
  }

  /** Reconciles both result files of a batch with the ledger (see above); returns lines adopted. */
  recover(ledger: BatchLedger, batch: BatchRow): number {
    let adopted = 0;
    for (const file of ["output", "error"] as const) {
      const fileId = file === "output" ? batch.output_file_id : batch.error_file_id;
      const end = ledger.committedEnd(batch.id, file);
      let fd: number;
      try {
        fd = openSync(this.store.path(fileId), "r+");
      } catch {
        continue; // nothing written yet
      }
      try {
        const size = fstatSync(fd).size;
        const tail = Buffer.alloc(Math.max(0, size - end));
        if (tail.length) readSync(fd, tail, 0, tail.length, end);
        let keep = end;
        let from = 0;
        for (let nl = tail.indexOf(10, from); nl !== -1; nl = tail.indexOf(10, from)) {
          const customId = this.customIdOf(fileId, tail.subarray(from, nl));
          const line = customId === undefined ? undefined : ledger.line(batch.id, customId);
          if (!line || line.status === "completed" || line.status === "failed") break;
          ledger.finish(batch.id, line.line_no, {
            status: file === "output" ? "completed" : "failed",
            file,
            offset: end + from,
            length: nl + 1 - from,
          });
          adopted++;
          keep = end + nl + 1;
          from = nl + 1;
        }
        if (keep < size) {
          ftruncateSync(fd, keep);
          fsyncSync(fd);
        }
      } finally {
        closeSync(fd);
      }
    }
    return adopted;
  }
}
