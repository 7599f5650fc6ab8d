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

/**
 * One stored line sealed again with the ring's current key: the same line when it is in clear
 * or already under the current key, else the new stored form, which has the same length (the
 * same plaintext under a key id of the same size), so a file's line offsets hold. Throws
 * data_key_unknown or sealed_value_invalid for a line it cannot open.
 */
export function resealLine(ring: Keyring, fileId: string, stored: Buffer): Buffer {
  if (stored.length === 0 || stored[0] === OPEN_BRACE) return stored;
  const sealed = Buffer.from(stored.toString("latin1"), "base64");
  if (ring.keyIdOf(sealed) === ring.current.id) return stored;
  return Buffer.from(ring.reseal(sealed, aad(fileId)).toString("base64"), "latin1");
}
