/**
 * Llama-shaped models with random weights, for throughput benchmarks: any width, depth, head
 * layout, feed-forward size, vocabulary and weight type. The weights are seeded, so the same
 * options give the same file.
 */
import { openGguf } from "../formats/detect.js";
import { fromFloat32 } from "../gguf/quantize.js";
import type { GgufValue } from "../gguf/types.js";
import { gv, writeGgufFile, type GgufTensorInput } from "../gguf/writer.js";
import { QUANT_TYPES, shouldQuantize, type QuantType } from "../quantize-file.js";
import { GgmlType } from "../gguf/types.js";
import { seededRandom } from "../../util/seeded-random.js";
import { ModelFormatError } from "../errors.js";
import { addToken, addWord, baseVocabulary, spmMetadata } from "./spm-vocab.js";

export interface RandomModelOptions {
  width: number;
  layers: number;
  heads: number;
  kvHeads: number;
  ff: number;
  vocab: number;
  ctx: number;
  type: QuantType;
  seed: number;
  /** A GGUF whose tokenizer (every tokenizer.* key) is copied; its vocabulary size wins. */
  vocabFrom?: string;
}

export const RANDOM_DEFAULTS: RandomModelOptions = {
  width: 768,
  layers: 12,
  heads: 12,
  kvHeads: 12,
  ff: 2048,
  vocab: 32000,
  ctx: 2048,
  type: "q8_0",
  seed: 1,
};

const CONSONANTS = "bdfgklmnprstvz";
const VOWELS = "aeiou";

/** A vocabulary built in code: specials, bytes, printable ASCII, then made-up syllable words. */
export function syntheticVocabulary(size: number) {
  const v = baseVocabulary();
  for (let c = 0x20; c < 0x7f; c++)
    if (v.tokens.length < size) addToken(v, String.fromCharCode(c), -1000);
  const syllables: string[] = [];
  for (const c of CONSONANTS) for (const vw of VOWELS) syllables.push(c + vw);
  let words: string[] = [...syllables];
  while (v.tokens.length < size) {
    for (const w of words) {
      if (v.tokens.length >= size) break;
      addWord(v, w);
    }
    words = words.flatMap((w) => syllables.map((s) => w + s));
  }
  v.tokens.length = Math.min(v.tokens.length, size);
  v.scores.length = v.tokens.length;
  v.types.length = v.tokens.length;
  return v;
}

function checkShape(o: RandomModelOptions): void {
  const problems: string[] = [];
  if (o.width % o.heads !== 0) problems.push("--width must be a multiple of --heads");
  if (o.heads % o.kvHeads !== 0) problems.push("--heads must be a multiple of --kv-heads");
  if ((o.width / o.heads) % 2 !== 0) problems.push("the head size (width / heads) must be even");
  if ((o.type === "q8_0" || o.type === "q4_0") && (o.width % 32 !== 0 || o.ff % 32 !== 0)) {
    problems.push("--width and --ff must be multiples of 32 for q8_0 and q4_0");
  }
  if (o.vocab < 259 + 95)
    problems.push("--vocab must be at least 354 (special, byte and ASCII tokens)");
  if (problems.length) throw new ModelFormatError("model_invalid", problems.join("; "));
}

/** Writes a random llama-shaped model; returns its size in bytes. */
export async function writeRandomModel(
  path: string,
  options: RandomModelOptions,
  onTensor?: (index: number, total: number, name: string) => void,
): Promise<number> {
  const o = { ...options };
  let tokenizer: [string, GgufValue][];
  if (o.vocabFrom) {
    const source = await openGguf(o.vocabFrom);
    tokenizer = [...source.header.metadata].filter(([k]) => k.startsWith("tokenizer."));
    const tokens = source.meta.array("tokenizer.ggml.tokens");
    if (!tokens)
      throw new ModelFormatError("model_invalid", `${o.vocabFrom} has no tokenizer.ggml.tokens`);
    o.vocab = tokens.length;
  } else {
    tokenizer = spmMetadata(syntheticVocabulary(o.vocab));
  }
  checkShape(o);
  const headDim = o.width / o.heads;
  const kvDim = o.kvHeads * headDim;
  const target = QUANT_TYPES[o.type].type;
  const random = seededRandom(o.seed);
  // Uniform weights with the variance of a 1/√fan-in initialization keep activations bounded.
  const matrix = (name: string, cols: number, rows: number): GgufTensorInput => {
    const type = shouldQuantize(name, [cols, rows], target) ? target : GgmlType.F32;
    return {
      name,
      dims: [cols, rows],
      type,
      data: () => {
        const scale = Math.sqrt(3 / cols);
        const x = new Float32Array(cols * rows);
        for (let i = 0; i < x.length; i++) x[i] = (random() * 2 - 1) * scale;
        return fromFloat32(type, x);
      },
    };
  };
  const norm = (name: string): GgufTensorInput => ({
    name,
    dims: [o.width],
    type: GgmlType.F32,
    data: new Uint8Array(new Float32Array(o.width).fill(1).buffer),
  });
  const tensors: GgufTensorInput[] = [
    matrix("token_embd.weight", o.width, o.vocab),
    norm("output_norm.weight"),
  ];
  tensors.push(matrix("output.weight", o.width, o.vocab));
  for (let l = 0; l < o.layers; l++) {
    const b = `blk.${l}`;
    tensors.push(
      norm(`${b}.attn_norm.weight`),
      matrix(`${b}.attn_q.weight`, o.width, o.width),
      matrix(`${b}.attn_k.weight`, o.width, kvDim),
      matrix(`${b}.attn_v.weight`, o.width, kvDim),
      matrix(`${b}.attn_output.weight`, o.width, o.width),
      norm(`${b}.ffn_norm.weight`),
      matrix(`${b}.ffn_gate.weight`, o.width, o.ff),
      matrix(`${b}.ffn_down.weight`, o.ff, o.width),
      matrix(`${b}.ffn_up.weight`, o.width, o.ff),
    );
  }
  const metadata = new Map<string, GgufValue>([
    ["general.architecture", gv.str("llama")],
    ["general.name", gv.str(`random-${o.width}x${o.layers}-${o.type}`)],
    ["general.description", gv.str("Random weights for throughput benchmarks; its text is noise.")],
    ["general.file_type", gv.u32(QUANT_TYPES[o.type].fileType)],
    ["general.quantization_version", gv.u32(2)],
    ["llama.context_length", gv.u32(o.ctx)],
    ["llama.embedding_length", gv.u32(o.width)],
    ["llama.feed_forward_length", gv.u32(o.ff)],
    ["llama.block_count", gv.u32(o.layers)],
    ["llama.attention.head_count", gv.u32(o.heads)],
    ["llama.attention.head_count_kv", gv.u32(o.kvHeads)],
    ["llama.rope.dimension_count", gv.u32(headDim)],
    ["llama.attention.layer_norm_rms_epsilon", gv.f32(1e-5)],
    ["llama.vocab_size", gv.u32(o.vocab)],
    ...tokenizer,
  ]);
  const total = tensors.length;
  const tracked = tensors.map((t, i) => ({
    ...t,
    data: async () => {
      onTensor?.(i, total, t.name);
      return typeof t.data === "function" ? await t.data() : t.data;
    },
  }));
  return writeGgufFile(path, metadata, tracked, 3);
}
