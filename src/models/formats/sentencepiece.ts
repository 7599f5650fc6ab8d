/**
 * SentencePiece's tokenizer.model: a protobuf ModelProto (sentencepiece_model.proto) whose
 * field 1 repeats SentencePiece { string piece = 1; float score = 2; Type type = 3; }, with
 * Type NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4, UNUSED 5, BYTE 6 — the same numbers
 * as llama.cpp's token types. Only the pieces are read; the other fields are skipped.
 */
import { ModelFormatError } from "../errors.js";
import type { TokenizerTable } from "./llama2c-io.js";

class Proto {
  pos = 0;
  constructor(
    readonly buf: Buffer,
    readonly end = buf.length,
  ) {}
  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end)
        throw new ModelFormatError("model_truncated", "tokenizer.model ends inside a field");
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
    }
    throw new ModelFormatError("model_invalid", "tokenizer.model has a malformed varint");
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 5) this.pos += 4;
    else if (wire === 2) this.pos += this.varint();
    else throw new ModelFormatError("model_invalid", `tokenizer.model has wire type ${wire}`);
    if (this.pos > this.end)
      throw new ModelFormatError("model_truncated", "tokenizer.model ends inside a field");
  }
}

/** Reads the pieces of a SentencePiece model. */
export function parseSentencePieceModel(buf: Buffer): TokenizerTable {
  const table: TokenizerTable = { tokens: [], scores: [], types: [] };
  const p = new Proto(buf);
  while (p.pos < p.end) {
    const tag = p.varint();
    if (tag >>> 3 === 1 && (tag & 7) === 2) {
      const len = p.varint();
      const end = p.pos + len;
      if (end > buf.length)
        throw new ModelFormatError("model_truncated", "tokenizer.model ends inside a piece");
      const q = new Proto(buf, end);
      q.pos = p.pos;
      let piece = "";
      let score = 0;
      let type = 1;
      while (q.pos < end) {
        const t = q.varint();
        const field = t >>> 3;
        if (field === 1 && (t & 7) === 2) {
          const n = q.varint();
          piece = buf.toString("utf8", q.pos, q.pos + n);
          q.pos += n;
        } else if (field === 2 && (t & 7) === 5) {
          score = buf.readFloatLE(q.pos);
          q.pos += 4;
        } else if (field === 3 && (t & 7) === 0) {
          type = q.varint();
        } else q.skip(t & 7);
      }
      table.tokens.push(piece);
      table.scores.push(score);
      table.types.push(type);
      p.pos = end;
    } else p.skip(tag & 7);
  }
  if (table.tokens.length === 0)
    throw new ModelFormatError("model_invalid", "tokenizer.model holds no pieces");
  return table;
}

/** Writes the pieces as a SentencePiece ModelProto (pieces only). */
export function encodeSentencePieceModel(t: TokenizerTable): Buffer {
  const parts: Buffer[] = [];
  const varint = (n: number) => {
    const out: number[] = [];
    do {
      let b = n % 128;
      n = Math.floor(n / 128);
      if (n > 0) b |= 0x80;
      out.push(b);
    } while (n > 0);
    return Buffer.from(out);
  };
  for (let i = 0; i < t.tokens.length; i++) {
    const piece = Buffer.from(t.tokens[i]!, "utf8");
    const score = Buffer.alloc(4);
    score.writeFloatLE(t.scores[i] ?? 0);
    const body = Buffer.concat([
      Buffer.from([0x0a]),
      varint(piece.length),
      piece,
      Buffer.from([0x15]),
      score,
      Buffer.from([0x18]),
      varint(t.types[i] ?? 1),
    ]);
    parts.push(Buffer.from([0x0a]), varint(body.length), body);
  }
  return Buffer.concat(parts);
}
