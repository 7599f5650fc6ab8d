/**
 * llama2.c's legacy checkpoint (karpathy/llama2.c, export.py legacy_export / run.c): a header of
 * seven int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a negative
 * vocab_size means the classifier is not shared with the embedding), then float32 tensors in a
 * fixed order. Its attention weights use Meta's interleaved RoPE layout, the same as GGUF's.
 */
import { ModelFormatError } from "../errors.js";

export interface Llama2cConfig {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  seqLen: number;
  sharedClassifier: boolean;
}

export const LLAMA2C_HEADER_BYTES = 28;

/** Float32 counts of each block of the checkpoint, in file order. */
export function llama2cLayout(c: Llama2cConfig): { name: string; floats: number }[] {
  const headSize = c.dim / c.nHeads;
  const kvDim = c.nKvHeads * headSize;
  const L = c.nLayers;
  const blocks = [
    { name: "token_embedding_table", floats: c.vocabSize * c.dim },
    { name: "rms_att_weight", floats: L * c.dim },
    { name: "wq", floats: L * c.dim * c.dim },
    { name: "wk", floats: L * c.dim * kvDim },
    { name: "wv", floats: L * c.dim * kvDim },
    { name: "wo", floats: L * c.dim * c.dim },
    { name: "rms_ffn_weight", floats: L * c.dim },
    { name: "w1", floats: L * c.dim * c.hiddenDim },
    { name: "w2", floats: L * c.hiddenDim * c.dim },
    { name: "w3", floats: L * c.dim * c.hiddenDim },
    { name: "rms_final_weight", floats: c.dim },
    { name: "freq_cis_real", floats: (c.seqLen * headSize) / 2 },
    { name: "freq_cis_imag", floats: (c.seqLen * headSize) / 2 },
  ];
  if (!c.sharedClassifier) blocks.push({ name: "wcls", floats: c.vocabSize * c.dim });
  return blocks;
}

/** Expected file size of a checkpoint with this config. */
export function llama2cFileSize(c: Llama2cConfig): number {
  return LLAMA2C_HEADER_BYTES + llama2cLayout(c).reduce((n, b) => n + b.floats * 4, 0);
}

/**
 * Reads and sanity-checks the header; with the file size, the size must match the config
 * exactly (a llama2.c checkpoint has no magic, so the size is what identifies it).
 */
export function parseLlama2cHeader(head: Buffer, fileSize: number): Llama2cConfig {
  if (head.length < LLAMA2C_HEADER_BYTES) {
    throw new ModelFormatError("model_truncated", "file is shorter than a llama2.c header");
  }
  const v = [0, 1, 2, 3, 4, 5, 6].map((i) => head.readInt32LE(i * 4));
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, rawVocab, seqLen] = v as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const vocabSize = Math.abs(rawVocab);
  const sane =
    dim > 0 &&
    dim <= 65536 &&
    hiddenDim > 0 &&
    hiddenDim <= 262144 &&
    nLayers > 0 &&
    nLayers <= 512 &&
    nHeads > 0 &&
    dim % nHeads === 0 &&
    (dim / nHeads) % 2 === 0 &&
    nKvHeads > 0 &&
    nKvHeads <= nHeads &&
    nHeads % nKvHeads === 0 &&
    vocabSize > 0 &&
    vocabSize <= 1 << 20 &&
    seqLen > 0 &&
    seqLen <= 1 << 20;
  if (!sane) {
    throw new ModelFormatError(
      "model_unknown_format",
      "not a llama2.c checkpoint (header values out of range)",
    );
  }
  const config: Llama2cConfig = {
    dim,
    hiddenDim,
    nLayers,
    nHeads,
    nKvHeads,
    vocabSize,
    seqLen,
    sharedClassifier: rawVocab > 0,
  };
  const expected = llama2cFileSize(config);
  if (fileSize < expected) {
    throw new ModelFormatError(
      "model_truncated",
      `llama2.c checkpoint is ${fileSize} bytes; its header needs ${expected}`,
    );
  }
  if (fileSize !== expected) {
    throw new ModelFormatError(
      "model_unknown_format",
      `not a llama2.c checkpoint: ${fileSize} bytes where its header needs ${expected}`,
    );
  }
  return config;
}
