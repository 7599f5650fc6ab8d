/**
 * Model format detection by content: magic bytes and structure, never the file name.
 * A format that can run code when loaded (PyTorch pickles) is refused with the reason.
 */
import { open, stat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { ModelFormatError } from "../errors.js";
import { readGgufHeader, checkGgufPreamble } from "../gguf/reader.js";
import { GGUF_MAGIC, type GgufHeader } from "../gguf/types.js";
import { GgufFile } from "../gguf/file.js";
import {
  looksLikeSafetensors,
  readSafetensorsHeader,
  type SafetensorsHeader,
} from "./safetensors.js";
import { parseLlama2cHeader, type Llama2cConfig } from "./llama2c.js";

export type ModelFormat = "gguf" | "safetensors" | "onnx" | "llama2c" | "hf-folder";

export type DetectedFormat =
  | { format: "gguf"; version: number; header: GgufHeader; fileSize: number }
  | { format: "safetensors"; header: SafetensorsHeader; fileSize: number }
  | { format: "onnx"; fileSize: number }
  | { format: "llama2c"; config: Llama2cConfig; fileSize: number }
  | { format: "hf-folder"; files: string[] };

const PICKLE_REFUSAL =
  "PyTorch checkpoints are Python pickles, and unpickling runs arbitrary code from the file; " +
  "it is refused. Convert the model to safetensors or GGUF with trusted tools first";

/** Is this a protobuf ModelProto start (ir_version varint, then another ModelProto field)? */
function looksLikeOnnx(head: Buffer): boolean {
  if (head.length < 4 || head[0] !== 0x08) return false;
  let i = 1;
  let ir = 0;
  for (let shift = 0; i < head.length && shift < 35; shift += 7) {
    const b = head[i++]!;
    ir |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) break;
  }
  // ModelProto fields 2..8 and 14, 20 as length-delimited (producer_name, graph, opset_import, …).
  const nextTag = head[i];
  const fieldOk =
    nextTag !== undefined &&
    (nextTag & 7) === 2 &&
    [2, 3, 4, 5, 6, 7, 8, 14].includes(nextTag >> 3);
  return ir >= 1 && ir <= 32 && fieldOk;
}

function isPickle(head: Buffer): boolean {
  // PROTO opcode (0x80) with protocol 2..5, as torch.save writes; older torch files start with
  // a protocol-2 magic number pickle as well.
  return head.length >= 2 && head[0] === 0x80 && head[1]! >= 2 && head[1]! <= 5;
}

function isZip(head: Buffer): boolean {
  return head.length >= 4 && head.readUInt32LE(0) === 0x04034b50;
}

/** Detects a model's format by content; throws ModelFormatError with a code when it cannot. */
export async function detectFormat(path: string): Promise<DetectedFormat> {
  const info = await stat(path).catch(() => {
    throw new ModelFormatError("model_invalid", `cannot read ${path}: no such file or folder`);
  });
  if (info.isDirectory()) return detectFolder(path);
  const fileSize = info.size;
  const head = Buffer.alloc(Math.min(fileSize, 64 * 1024));
  const fh = await open(path, "r");
  try {
    await fh.read(head, 0, head.length, 0);
  } finally {
    await fh.close();
  }
  if (fileSize === 0) throw new ModelFormatError("model_truncated", "the file is empty");
  if (head.toString("latin1", 0, 4) === GGUF_MAGIC) {
    const version = checkGgufPreamble(head);
    const header = await readGgufHeader(path);
    return { format: "gguf", version, header, fileSize };
  }
  if (isZip(head)) {
    // torch.save's zip format holds "<name>/data.pkl"; the local header of the first entry
    // names it, and the central directory lists it.
    if (head.includes("data.pkl") || head.includes(".pkl")) {
      throw new ModelFormatError("model_unsafe_pickle", PICKLE_REFUSAL);
    }
    throw new ModelFormatError(
      "model_unknown_format",
      "a zip archive that holds no model format Bulwark reads",
    );
  }
  if (isPickle(head)) throw new ModelFormatError("model_unsafe_pickle", PICKLE_REFUSAL);
  if (looksLikeSafetensors(head)) {
    return { format: "safetensors", header: await readSafetensorsHeader(path), fileSize };
  }
  if (looksLikeOnnx(head)) return { format: "onnx", fileSize };
  if (fileSize >= 28) {
    try {
      return { format: "llama2c", config: parseLlama2cHeader(head, fileSize), fileSize };
    } catch (err) {
      if (!(err instanceof ModelFormatError) || err.code !== "model_unknown_format") throw err;
    }
  }
  throw new ModelFormatError(
    "model_unknown_format",
    "unknown model format: not GGUF, safetensors, ONNX or a llama2.c checkpoint",
  );
}

async function detectFolder(path: string): Promise<DetectedFormat> {
  const files = (await readdir(path)).sort();
  if (files.includes("config.json") && files.some((f) => f.endsWith(".safetensors"))) {
    return { format: "hf-folder", files: files.map((f) => join(path, f)) };
  }
  if (files.some((f) => f.endsWith(".bin") || f.endsWith(".pt") || f.endsWith(".pth"))) {
    throw new ModelFormatError("model_unsafe_pickle", PICKLE_REFUSAL);
  }
  throw new ModelFormatError(
    "model_unknown_format",
    "this folder is not a Hugging Face model (it needs config.json and *.safetensors)",
  );
}

/** Opens a file that must be GGUF; any other format gets detection's own error or a clear one. */
export async function openGguf(path: string): Promise<GgufFile> {
  const d = await detectFormat(path);
  if (d.format !== "gguf") {
    throw new ModelFormatError(
      "model_unsupported",
      `this is a ${d.format} model; the command needs GGUF (convert it first)`,
    );
  }
  return GgufFile.open(path);
}
