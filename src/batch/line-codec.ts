/**
 * How the lines of batch files are kept at rest. With a data key (BULWARK_DATA_KEY_FILE) each
 * line is sealed on its own (src/crypto: AES-256-GCM, bound to its file's id) and stored as
 * base64, so a file stays one line per request and its offsets stay line offsets; without one,
 * lines are kept as they came. A line kept in clear (written before a data key was set) still
 * reads: a sealed line never starts with `{`.
 */
import type { Keyring } from "../crypto/index.js";

export interface LineCodec {
  /** The stored form of one line (no newline in it). */
  encode(fileId: string, line: Buffer): Buffer;
  /** The line back; throws sealed_value_invalid or data_key_unknown for a line it cannot open. */
  decode(fileId: string, stored: Buffer): Buffer;
  /** Whether stored lines differ from the lines (their sizes then differ too). */
  readonly sealed: boolean;
}

export const plainLines: LineCodec = {
  encode: (_fileId, line) => line,
  decode: (_fileId, stored) => stored,
  sealed: false,
};

const OPEN_BRACE = 0x7b;

function aad(fileId: string): string {
  return `bulwark-batch-file:${fileId}`;
}

export function sealedLines(ring: Keyring): LineCodec {
  return {
    encode: (fileId, line) =>
      Buffer.from(ring.seal(line, aad(fileId)).toString("base64"), "latin1"),
    decode: (fileId, stored) => {
      if (stored.length === 0 || stored[0] === OPEN_BRACE) return stored;
      return ring.open(Buffer.from(stored.toString("latin1"), "base64"), aad(fileId));
    },
    sealed: true,
  };
}
