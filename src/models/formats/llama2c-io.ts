/**
 * llama2.c ⇄ GGUF. The checkpoint's tensors are PyTorch (out, in) row-major matrices, which are
 * ggml's [in, out] tensors byte for byte, in the Meta RoPE layout GGUF uses, so conversion only
 * reorders blocks. tokenizer.bin (llama2.c tokenizer.py export) holds max_token_length, then per
 * token a float32 score, an int32 length and the bytes, with "▁" written as a space and BOS/EOS
 * as "\n<s>\n" and "\n</s>\n".
 */
import { open, readFile, writeFile } from "node:fs/promises";
import { basename } from "node:path";
import { ModelFormatError } from "../errors.js";
import { openGguf } from "./detect.js";
import { toFloat32 } from "../gguf/quantize.js";
import { GgmlType, type GgufValue } from "../gguf/types.js";
import { gv, writeGgufFile, type GgufTensorInput } from "../gguf/writer.js";
import {
  LLAMA2C_HEADER_BYTES,
  llama2cLayout,
  parseLlama2cHeader,
  type Llama2cConfig,
} from "./llama2c.js";
import { LAYER_TENSORS, llamaMetadata, type LayerTensor } from "./llama-gguf.js";
import { SPACE, TokenType } from "../generate/spm-vocab.js";

/** llama2.c block → GGUF layer tensor. */
const BLOCK_OF: Record<LayerTensor, string> = {
  attn_q: "wq",
  attn_k: "wk",
  attn_v: "wv",
  attn_output: "wo",
  attn_norm: "rms_att_weight",
  ffn_gate: "w1",
  ffn_down: "w2",
  ffn_up: "w3",
  ffn_norm: "rms_ffn_weight",
};

function layerDims(c: Llama2cConfig, t: LayerTensor): number[] {
  const kvDim = (c.dim / c.nHeads) * c.nKvHeads;
  switch (t) {
    case "attn_q":
    case "attn_output":
      return [c.dim, c.dim];
    case "attn_k":
    case "attn_v":
      return [c.dim, kvDim];
    case "attn_norm":
    case "ffn_norm":
      return [c.dim];
    case "ffn_gate":
    case "ffn_up":
      return [c.dim, c.hiddenDim];
    case "ffn_down":
      return [c.hiddenDim, c.dim];
  }
}

export interface TokenizerTable {
  tokens: string[];
  scores: number[];
  types: number[];
}

/** Reads tokenizer.bin for a vocabulary of n tokens. */
export async function readLlama2cTokenizer(path: string, n: number): Promise<TokenizerTable> {
  const buf = await readFile(path);
  const table: TokenizerTable = { tokens: [], scores: [], types: [] };
  let pos = 4;
  for (let i = 0; i < n; i++) {
    if (pos + 8 > buf.length)
      throw new ModelFormatError(
        "model_truncated",
        `${basename(path)} ends after ${i} of ${n} tokens`,
      );
    const score = buf.readFloatLE(pos);
    const len = buf.readInt32LE(pos + 4);
    pos += 8;
    if (len < 0 || pos + len > buf.length)
      throw new ModelFormatError("model_truncated", `${basename(path)} ends inside token ${i}`);
    let text = buf.toString("utf8", pos, pos + len);
    pos += len;
    if (text === "\n<s>\n") text = "<s>";
    else if (text === "\n</s>\n") text = "</s>";
    else text = text.replaceAll(" ", SPACE);
    const type =
      text === "<unk>"
        ? TokenType.UNKNOWN
        : text === "<s>" || text === "</s>"
          ? TokenType.CONTROL
          : /^<0x[0-9A-F]{2}>$/.test(text)
            ? TokenType.BYTE
            : TokenType.NORMAL;
    table.tokens.push(text);
    table.scores.push(score);
    table.types.push(type);
  }
  return table;
}

/** Writes tokenizer.bin from a table. */
export async function writeLlama2cTokenizer(path: string, t: TokenizerTable): Promise<void> {
  const parts: Buffer[] = [];
  let maxLen = 0;
  for (let i = 0; i < t.tokens.length; i++) {
    let text = t.tokens[i]!;
    if (text === "<s>") text = "\n<s>\n";
    else if (text === "</s>") text = "\n</s>\n";
    else text = text.replaceAll(SPACE, " ");
    const bytes = Buffer.from(text, "utf8");
    maxLen = Math.max(maxLen, bytes.length);
    const head = Buffer.alloc(8);
    head.writeFloatLE(t.scores[i] ?? 0, 0);
    head.writeInt32LE(bytes.length, 4);
    parts.push(head, bytes);
  }
  const first = Buffer.alloc(4);
  first.writeUInt32LE(maxLen);
  await writeFile(path, Buffer.concat([first, ...parts]));
}

/** The SentencePiece tokenizer metadata for a table. */
export function spmTokenizerMetadata(
  t: TokenizerTable,
  bos = 1,
  eos = 2,
  unk = 0,
): [string, GgufValue][] {
  return [
    ["tokenizer.ggml.model", gv.str("llama")],
    ["tokenizer.ggml.tokens", gv.strs(t.tokens)],
    ["tokenizer.ggml.scores", gv.f32s(t.scores)],
    ["tokenizer.ggml.token_type", gv.i32s(t.types)],
    ["tokenizer.ggml.unknown_token_id", gv.u32(unk)],
    ["tokenizer.ggml.bos_token_id", gv.u32(bos)],
    ["tokenizer.ggml.eos_token_id", gv.u32(eos)],
  ];
}

/** Converts a llama2.c checkpoint and its tokenizer.bin to an F32 GGUF. */
export async function convertLlama2c(
  modelPath: string,
  tokenizerPath: string,
  out: string,
): Promise<number> {
  const fh = await open(modelPath, "r");
  try {
    const size = (await fh.stat()).size;
    const head = Buffer.alloc(LLAMA2C_HEADER_BYTES);
    await fh.read(head, 0, head.length, 0);
    const c = parseLlama2cHeader(head, size);
    const tokenizer = await readLlama2cTokenizer(tokenizerPath, c.vocabSize);
    const offsets = new Map<string, number>();
    let pos = LLAMA2C_HEADER_BYTES;
    for (const b of llama2cLayout(c)) {
      offsets.set(b.name, pos);
      pos += b.floats * 4;
    }
    const slice = (block: string, index: number, floats: number) => async () => {
      const buf = Buffer.alloc(floats * 4);
      await fh.read(buf, 0, buf.length, offsets.get(block)! + index * floats * 4);
      return buf;
    };
    const f32 = (name: string, dims: number[], data: () => Promise<Buffer>): GgufTensorInput => ({
      name,
      dims,
      type: GgmlType.F32,
      data,
    });
    const embedFloats = c.vocabSize * c.dim;
    const tensors: GgufTensorInput[] = [
      f32(
        "token_embd.weight",
        [c.dim, c.vocabSize],
        slice("token_embedding_table", 0, embedFloats),
      ),
      f32("output_norm.weight", [c.dim], slice("rms_final_weight", 0, c.dim)),
      f32(
        "output.weight",
        [c.dim, c.vocabSize],
        slice(c.sharedClassifier ? "token_embedding_table" : "wcls", 0, embedFloats),
      ),
    ];
    for (let l = 0; l < c.nLayers; l++) {
      for (const t of LAYER_TENSORS) {
        const dims = layerDims(c, t);
        const floats = dims.reduce((a, b) => a * b, 1);
        tensors.push(f32(`blk.${l}.${t}.weight`, dims, slice(BLOCK_OF[t], l, floats)));
      }
    }
    const metadata = new Map<string, GgufValue>([
      ...spmTokenizerMetadata(tokenizer),
      ...llamaMetadata({
        name: "llama",
        contextLength: c.seqLen,
        embedding: c.dim,
        feedForward: c.hiddenDim,
        layers: c.nLayers,
        heads: c.nHeads,
        kvHeads: c.nKvHeads,
        rmsEps: 1e-5,
        vocabSize: c.vocabSize,
        fileType: 0,
      }),
    ]);
    return await writeGgufFile(out, metadata, tensors, 3);
  } finally {
    await fh.close();
  }
}

/** Exports a llama GGUF (float or Q8_0/Q4_0 weights) to a llama2.c checkpoint and tokenizer.bin. */
export async function exportLlama2c(
  ggufPath: string,
  modelOut: string,
  tokenizerOut: string,
): Promise<Llama2cConfig> {
  const f = await openGguf(ggufPath);
  if (f.architecture !== "llama") {
    throw new ModelFormatError(
      "model_unsupported",
      `llama2.c holds llama models; this one is "${f.architecture}"`,
    );
  }
  const m = f.meta;
  const tokens = m.array("tokenizer.ggml.tokens") as string[] | undefined;
  if (!tokens || m.string("tokenizer.ggml.model") !== "llama") {
    throw new ModelFormatError(
      "model_unsupported",
      "llama2.c needs a SentencePiece (llama) vocabulary",
    );
  }
  const read = async (name: string): Promise<Float32Array> => {
    const t = f.tensor(name);
    if (!t) throw new ModelFormatError("model_invalid", `tensor "${name}" is missing`);
    return toFloat32(
      t.type,
      await f.readTensor(t),
      t.dims.reduce((a, b) => a * b, 1),
    );
  };
  const embd = await read("token_embd.weight");
  const output = f.tensor("output.weight") ? await read("output.weight") : embd;
  const shared = Buffer.from(output.buffer).equals(Buffer.from(embd.buffer));
  const c: Llama2cConfig = {
    dim: m.requireNumber("llama.embedding_length"),
    hiddenDim: m.requireNumber("llama.feed_forward_length"),
    nLayers: m.requireNumber("llama.block_count"),
    nHeads: m.requireNumber("llama.attention.head_count"),
    nKvHeads:
      m.number("llama.attention.head_count_kv") ?? m.requireNumber("llama.attention.head_count"),
    vocabSize: tokens.length,
    seqLen: m.requireNumber("llama.context_length"),
    sharedClassifier: shared,
  };
  const theta = m.number("llama.rope.freq_base") ?? 10000;
  const fh = await open(modelOut, "w");
  try {
    const header = Buffer.alloc(LLAMA2C_HEADER_BYTES);
    [
      c.dim,
      c.hiddenDim,
      c.nLayers,
      c.nHeads,
      c.nKvHeads,
      shared ? c.vocabSize : -c.vocabSize,
      c.seqLen,
    ].forEach((v, i) => header.writeInt32LE(v, i * 4));
    await fh.write(header);
    const put = (x: Float32Array) => fh.write(new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
    await put(embd);
    const perLayer = async (t: LayerTensor) => {
      for (let l = 0; l < c.nLayers; l++) await put(await read(`blk.${l}.${t}.weight`));
    };
    for (const t of [
      "attn_norm",
      "attn_q",
      "attn_k",
      "attn_v",
      "attn_output",
      "ffn_norm",
      "ffn_gate",
      "ffn_down",
      "ffn_up",
    ] as const)
      await perLayer(t);
    await put(await read("output_norm.weight"));
    // freq_cis tables: run.c computes RoPE itself and skips them, but the layout includes them.
    const headSize = c.dim / c.nHeads;
    const real = new Float32Array((c.seqLen * headSize) / 2);
    const imag = new Float32Array(real.length);
    for (let p = 0; p < c.seqLen; p++) {
      for (let i = 0; i < headSize / 2; i++) {
        const angle = p / theta ** ((2 * i) / headSize);
        real[p * (headSize / 2) + i] = Math.cos(angle);
        imag[p * (headSize / 2) + i] = Math.sin(angle);
      }
    }
    await put(real);
    await put(imag);
    if (!shared) await put(output);
  } finally {
    await fh.close();
  }
  await writeLlama2cTokenizer(tokenizerOut, {
    tokens,
    scores: (m.array("tokenizer.ggml.scores") as number[] | undefined) ?? tokens.map(() => 0),
    types: (m.array("tokenizer.ggml.token_type") as number[] | undefined) ?? [],
  });
  return c;
}
