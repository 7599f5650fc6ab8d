/** The GGUF metadata and tensor names llama.cpp's "llama" architecture reads. */
import { gv } from "../gguf/writer.js";
import type { GgufValue } from "../gguf/types.js";

export interface LlamaHyper {
  name: string;
  contextLength: number;
  embedding: number;
  feedForward: number;
  layers: number;
  heads: number;
  kvHeads: number;
  rmsEps: number;
  ropeTheta?: number;
  vocabSize: number;
  fileType: number;
}

/** Architecture keys (llama.cpp's LLM_KV names for LLM_ARCH_LLAMA). */
export function llamaMetadata(h: LlamaHyper): [string, GgufValue][] {
  const entries: [string, GgufValue][] = [
    ["general.architecture", gv.str("llama")],
    ["general.name", gv.str(h.name)],
    ["general.file_type", gv.u32(h.fileType)],
    ["llama.context_length", gv.u32(h.contextLength)],
    ["llama.embedding_length", gv.u32(h.embedding)],
    ["llama.feed_forward_length", gv.u32(h.feedForward)],
    ["llama.block_count", gv.u32(h.layers)],
    ["llama.attention.head_count", gv.u32(h.heads)],
    ["llama.attention.head_count_kv", gv.u32(h.kvHeads)],
    ["llama.rope.dimension_count", gv.u32(h.embedding / h.heads)],
    ["llama.attention.layer_norm_rms_epsilon", gv.f32(h.rmsEps)],
    ["llama.vocab_size", gv.u32(h.vocabSize)],
  ];
  if (h.ropeTheta !== undefined) entries.push(["llama.rope.freq_base", gv.f32(h.ropeTheta)]);
  return entries;
}

/** Per-layer tensor names, in the order llama.cpp's converters write them. */
export const LAYER_TENSORS = [
  "attn_q",
  "attn_k",
  "attn_v",
  "attn_output",
  "attn_norm",
  "ffn_gate",
  "ffn_down",
  "ffn_up",
  "ffn_norm",
] as const;

export type LayerTensor = (typeof LAYER_TENSORS)[number];
