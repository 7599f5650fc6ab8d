/**
 * The lines of a batch file as stored, read one chunk at a time: each without its newline, with
 * the offset it starts at, its length on disk (its newline included) and whether a newline ended
 * it (only the last line may lack one). The file store and the reseal of batch files read
 * through it.
 */
import { createReadStream } from "node:fs";

export interface StoredLine {
  line: Buffer;
  offset: number;
  length: number;
  newline: boolean;
}

export async function* fileLines(path: string): AsyncGenerator<StoredLine> {
  let pending: Buffer[] = [];
  let pendingStart = 0;
  let offset = 0;
  for await (const chunk of createReadStream(path)) {
    const buf = chunk as Buffer;
    let from = 0;
    for (let nl = buf.indexOf(10, from); nl !== -1; nl = buf.indexOf(10, from)) {
      const piece = buf.subarray(from, nl);
      const line = pending.length ? Buffer.concat([...pending, piece]) : piece;
      yield { line, offset: pendingStart, length: line.length + 1, newline: true };
      pending = [];
      pendingStart = offset + nl + 1;
      from = nl + 1;
    }
    if (from < buf.length) pending.push(Buffer.from(buf.subarray(from)));
    offset += buf.length;
  }
  if (pending.length) {
    const line = Buffer.concat(pending);
    yield { line, offset: pendingStart, length: line.length, newline: false };
  }
}
