/**
 * Writes a llama GGUF out as a Hugging Face folder, the way transformers' own conversion script
 * (src/transformers/models/llama/convert_llama_weights_to_hf.py) lays a Meta checkpoint out:
 * PyTorch (out, in) matrices under HF names, with q_proj and k_proj rows permuted by
 *   permute(w, n_heads, dim1, dim2) = w.view(n_heads, dim1 // n_heads // 2, 2, dim2)
 *                                      .transpose(1, 2).reshape(dim1, dim2)
 * (n_heads = num_key_value_heads for k_proj). This is written independently of the converter
 * under test, so that the round trip checks the converter against the reference layout.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  encodeSentencePieceModel,
  f32ToBf16,
  f32ToF16,
  GgufFile,
  toFloat32,
  type TokenizerTable,
} from "../../src/models/index.js";

/** transformers' permute, index by index: out[h, j, i, :] = w[h, i, j, :]. */
function transformersPermute(
  w: Float32Array,
  dim1: number,
  dim2: number,
  nHeads: number,
): Float32Array {
  const half = dim1 / nHeads / 2;
  const out = new Float32Array(w.length);
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const from = ((h * half + i) * 2 + j) * dim2; // view (n_heads, half, 2, dim2)
        const to = ((h * 2 + j) * half + i) * dim2; // after transpose(1, 2): (n_heads, 2, half, dim2)
        out.set(w.subarray(from, from + dim2), to);
      }
    }
  }
  return out;
}

function encode(dtype: "F32" | "F16" | "BF16", x: Float32Array): Buffer {
  if (dtype === "F32") return Buffer.from(x.buffer, x.byteOffset, x.byteLength);
  const out = Buffer.alloc(x.length * 2);
  for (let i = 0; i < x.length; i++)
    out.writeUInt16LE(dtype === "F16" ? f32ToF16(x[i]!) : f32ToBf16(x[i]!), i * 2);
  return out;
}

function writeSafetensors(
  path: string,
  tensors: { name: string; shape: number[]; dtype: string; data: Buffer }[],
): void {
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = {
      dtype: t.dtype,
      shape: t.shape,
      data_offsets: [offset, offset + t.data.length],
    };
    offset += t.data.length;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  writeFileSync(path, Buffer.concat([len, Buffer.from(json), ...tensors.map((t) => t.data)]));
}

/** SentencePiece BPE pieces as a tokenizer.json (BPE, byte fallback), merges ordered by score. */
function tokenizerJson(t: TokenizerTable): unknown {
  const vocab: Record<string, number> = {};
  t.tokens.forEach((tok, i) => (vocab[tok] = i));
  const merges: { pair: [string, string]; score: number }[] = [];
  t.tokens.forEach((tok, id) => {
    if (t.types[id] !== 1 || [...tok].length < 2) return;
    const chars = [...tok];
    for (let k = 1; k < chars.length; k++) {
      const a = chars.slice(0, k).join("");
      const b = chars.slice(k).join("");
      if (a in vocab && b in vocab) merges.push({ pair: [a, b], score: t.scores[id]! });
    }
  });
  merges.sort((x, y) => y.score - x.score);
  return {
    version: "1.0",
    added_tokens: [0, 1, 2].map((id) => ({ id, content: t.tokens[id], special: true })),
    model: { type: "BPE", vocab, merges: merges.map((m) => m.pair.join(" ")), byte_fallback: true },
  };
}

export interface HfExportOptions {
  dtype: "F32" | "F16" | "BF16";
  tokenizer: "tokenizer.model" | "tokenizer.json";
  chatTemplate?: string;
}

/** Writes the GGUF's weights and vocabulary as a Hugging Face llama folder. */
export async function writeHfFolder(gguf: string, dir: string, o: HfExportOptions): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const f = await GgufFile.open(gguf);
  const m = f.meta;
  const dim = m.requireNumber("llama.embedding_length");
  const heads = m.requireNumber("llama.attention.head_count");
  const kvHeads = m.requireNumber("llama.attention.head_count_kv");
  const layers = m.requireNumber("llama.block_count");
  const tokens = m.array("tokenizer.ggml.tokens") as string[];
  const read = async (name: string) => {
    const t = f.tensor(name)!;
    return {
      x: toFloat32(
        t.type,
        await f.readTensor(t),
        t.dims.reduce((a, b) => a * b, 1),
      ),
      shape: [...t.dims].reverse(),
    };
  };
  const out: { name: string; shape: number[]; dtype: string; data: Buffer }[] = [];
  const add = async (hf: string, gg: string, permuteHeads?: number) => {
    const { x, shape } = await read(gg);
    const w = permuteHeads ? transformersPermute(x, shape[0]!, shape[1]!, permuteHeads) : x;
    out.push({ name: hf, shape, dtype: o.dtype, data: encode(o.dtype, w) });
  };
  await add("model.embed_tokens.weight", "token_embd.weight");
  await add("model.norm.weight", "output_norm.weight");
  await add("lm_head.weight", "output.weight");
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}`;
    await add(`${p}.self_attn.q_proj.weight`, `blk.${l}.attn_q.weight`, heads);
    await add(`${p}.self_attn.k_proj.weight`, `blk.${l}.attn_k.weight`, kvHeads);
    await add(`${p}.self_attn.v_proj.weight`, `blk.${l}.attn_v.weight`);
    await add(`${p}.self_attn.o_proj.weight`, `blk.${l}.attn_output.weight`);
    await add(`${p}.mlp.gate_proj.weight`, `blk.${l}.ffn_gate.weight`);
    await add(`${p}.mlp.up_proj.weight`, `blk.${l}.ffn_up.weight`);
    await add(`${p}.mlp.down_proj.weight`, `blk.${l}.ffn_down.weight`);
    await add(`${p}.input_layernorm.weight`, `blk.${l}.attn_norm.weight`);
    await add(`${p}.post_attention_layernorm.weight`, `blk.${l}.ffn_norm.weight`);
  }
  // Two shards, as large models come.
  const half = Math.ceil(out.length / 2);
  writeSafetensors(join(dir, "model-00001-of-00002.safetensors"), out.slice(0, half));
  writeSafetensors(join(dir, "model-00002-of-00002.safetensors"), out.slice(half));
  writeFileSync(
    join(dir, "config.json"),
    JSON.stringify({
      architectures: ["LlamaForCausalLM"],
      model_type: "llama",
      hidden_size: dim,
      intermediate_size: m.requireNumber("llama.feed_forward_length"),
      num_hidden_layers: layers,
      num_attention_heads: heads,
      num_key_value_heads: kvHeads,
      max_position_embeddings: m.requireNumber("llama.context_length"),
      rms_norm_eps: m.requireNumber("llama.attention.layer_norm_rms_epsilon"),
      vocab_size: tokens.length,
      bos_token_id: 1,
      eos_token_id: 2,
      tie_word_embeddings: false,
      torch_dtype: { F32: "float32", F16: "float16", BF16: "bfloat16" }[o.dtype],
    }),
  );
  const table: TokenizerTable = {
    tokens,
    scores: m.array("tokenizer.ggml.scores") as number[],
    types: m.array("tokenizer.ggml.token_type") as number[],
  };
  if (o.tokenizer === "tokenizer.model")
    writeFileSync(join(dir, "tokenizer.model"), encodeSentencePieceModel(table));
  else writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(tokenizerJson(table)));
  writeFileSync(
    join(dir, "tokenizer_config.json"),
    JSON.stringify({
      add_bos_token: true,
      add_eos_token: false,
      bos_token: "<s>",
      eos_token: "</s>",
      ...(o.chatTemplate ? { chat_template: o.chatTemplate } : {}),
    }),
  );
}
