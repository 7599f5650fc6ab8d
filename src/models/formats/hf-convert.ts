/**
 * A Hugging Face llama folder (config.json, *.safetensors in F32/F16/BF16, tokenizer.model or
 * tokenizer.json) to GGUF.
 *
 * Q and K rows: transformers' convert_llama_weights_to_hf.py (src/transformers/models/llama/)
 * permutes Meta's q/k weights so that RoPE rotates the two halves of each head
 * (`w.view(n_heads, dim1 // n_heads // 2, 2, dim2).transpose(1, 2).reshape(dim1, dim2)`, with
 * n_heads = num_key_value_heads for k). GGUF keeps Meta's interleaved layout, so this undoes it
 * as llama.cpp's convert_hf_to_gguf.py LlamaModel.permute does: row j·(hd/2)+i of a head in the
 * HF layout is row 2i+j in GGUF's.
 */
import { readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { ModelFormatError } from "../errors.js";
import { fromFloat32, toFloat32 } from "../gguf/quantize.js";
import { GgmlType, type GgufValue } from "../gguf/types.js";
import { writeGgufFile, type GgufTensorInput } from "../gguf/writer.js";
import { QUANT_TYPES, shouldQuantize, type QuantType } from "../quantize-file.js";
import {
  readSafetensorsHeader,
  readSafetensorsTensor,
  type SafetensorsEntry,
} from "./safetensors.js";
import { hfTokenizerMetadata } from "./hf-tokenizer.js";
import { llamaMetadata, LAYER_TENSORS, type LayerTensor } from "./llama-gguf.js";

const HF_LAYER: Record<LayerTensor, string> = {
  attn_q: "self_attn.q_proj",
  attn_k: "self_attn.k_proj",
  attn_v: "self_attn.v_proj",
  attn_output: "self_attn.o_proj",
  attn_norm: "input_layernorm",
  ffn_gate: "mlp.gate_proj",
  ffn_down: "mlp.down_proj",
  ffn_up: "mlp.up_proj",
  ffn_norm: "post_attention_layernorm",
};

/**
 * Moves the rows of a (rows × cols) Q or K matrix between Meta's interleaved rotary layout (row
 * 2i + j of a head) and Hugging Face's split one (row j · hd/2 + i), in either direction.
 */
function reorderRows(
  w: Float32Array,
  rows: number,
  cols: number,
  heads: number,
  fromHf: boolean,
): Float32Array {
  const out = new Float32Array(w.length);
  const hd = rows / heads;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < hd / 2; i++) {
      for (let j = 0; j < 2; j++) {
        const meta = (h * hd + 2 * i + j) * cols;
        const hf = (h * hd + j * (hd / 2) + i) * cols;
        const [src, dst] = fromHf ? [hf, meta] : [meta, hf];
        out.set(w.subarray(src, src + cols), dst);
      }
    }
  }
  return out;
}

/** Rows of a (rows × cols) matrix from the HF rotary layout back to Meta's interleaved one. */
export function unpermuteRows(
  w: Float32Array,
  rows: number,
  cols: number,
  heads: number,
): Float32Array {
  return reorderRows(w, rows, cols, heads, true);
}

/** Meta → HF, the transformers script's permutation (used to write test folders). */
export function permuteRows(
  w: Float32Array,
  rows: number,
  cols: number,
  heads: number,
): Float32Array {
  return reorderRows(w, rows, cols, heads, false);
}

/** The ggml types of the safetensors dtypes the converter reads. */
const SOURCE_TYPES: Record<string, GgmlType> = {
  F32: GgmlType.F32,
  F16: GgmlType.F16,
  BF16: GgmlType.BF16,
};

function toF32(e: SafetensorsEntry, raw: Buffer): Float32Array {
  const type = SOURCE_TYPES[e.dtype];
  if (type === undefined) {
    throw new ModelFormatError(
      "model_unsupported",
      `tensor "${e.name}" is ${e.dtype}; F32, F16 and BF16 are supported`,
    );
  }
  return toFloat32(
    type,
    raw,
    e.shape.reduce((a, b) => a * b, 1),
  );
}

export interface HfConvertOptions {
  /** Weight type of the matrices; default F32 for an F32 source, else F16. */
  type?: QuantType;
  onTensor?: (index: number, total: number, name: string) => void;
}

/** Converts a Hugging Face llama folder to GGUF; returns the file's size. */
export async function convertHfFolder(
  dir: string,
  out: string,
  options: HfConvertOptions = {},
): Promise<number> {
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(await readFile(join(dir, "config.json"), "utf8")) as Record<
      string,
      unknown
    >;
  } catch {
    throw new ModelFormatError("model_invalid", "config.json is missing or not valid JSON");
  }
  const arch = Array.isArray(config.architectures)
    ? String(config.architectures[0])
    : String(config.model_type);
  if (arch !== "LlamaForCausalLM" && config.model_type !== "llama") {
    throw new ModelFormatError(
      "model_unsupported",
      `only llama-architecture folders convert (this one is ${arch})`,
    );
  }
  const num = (k: string, fallback?: number): number => {
    const v = config[k] ?? fallback;
    if (typeof v !== "number" || !Number.isFinite(v))
      throw new ModelFormatError("model_invalid", `config.json has no number "${k}"`);
    return v;
  };
  /** A count (layers, heads, sizes): a positive integer, checked before anything is sized by it. */
  const count = (k: string, fallback?: number): number => {
    const v = num(k, fallback);
    if (!Number.isSafeInteger(v) || v < 1 || v > 2 ** 31)
      throw new ModelFormatError("model_invalid", `config.json "${k}" is ${v}, not a count`);
    return v;
  };
  const dim = count("hidden_size");
  const heads = count("num_attention_heads");
  const kvHeads = count("num_key_value_heads", heads);
  const layers = count("num_hidden_layers");
  const { readdir } = await import("node:fs/promises");
  const entries = new Map<string, { file: string; entry: SafetensorsEntry }>();
  for (const f of (await readdir(dir)).filter((x) => x.endsWith(".safetensors")).sort()) {
    const h = await readSafetensorsHeader(join(dir, f));
    for (const e of h.tensors) entries.set(e.name, { file: join(dir, f), entry: e });
  }
  // Each layer needs its own tensors: a config that declares more layers than the files could
  // hold is refused before the plan is built (num_hidden_layers: 1e9 once took 4 GB here).
  if (layers * LAYER_TENSORS.length > entries.size) {
    throw new ModelFormatError(
      "model_invalid",
      `config.json declares ${layers} layers, but the safetensors files hold only ${entries.size} tensors`,
    );
  }
  const dtypes = new Set([...entries.values()].map((x) => x.entry.dtype));
  const type: QuantType = options.type ?? (dtypes.size === 1 && dtypes.has("F32") ? "f32" : "f16");
  const target = QUANT_TYPES[type].type;
  const plan: { name: string; source: string; heads?: number }[] = [
    { name: "token_embd.weight", source: "model.embed_tokens.weight" },
    { name: "output_norm.weight", source: "model.norm.weight" },
  ];
  if (entries.has("lm_head.weight")) plan.push({ name: "output.weight", source: "lm_head.weight" });
  for (let l = 0; l < layers; l++) {
    for (const t of LAYER_TENSORS) {
      const permute = t === "attn_q" ? heads : t === "attn_k" ? kvHeads : undefined;
      plan.push({
        name: `blk.${l}.${t}.weight`,
        source: `model.layers.${l}.${HF_LAYER[t]}.weight`,
        heads: permute,
      });
    }
  }
  const tensors: GgufTensorInput[] = plan.map((p, i) => {
    const found = entries.get(p.source);
    if (!found)
      throw new ModelFormatError(
        "model_invalid",
        `tensor "${p.source}" is missing from the safetensors files`,
      );
    const shape = found.entry.shape;
    const dims = [...shape].reverse();
    const tensorType = shouldQuantize(p.name, dims, target) ? target : GgmlType.F32;
    return {
      name: p.name,
      dims,
      type: tensorType,
      data: async () => {
        options.onTensor?.(i, plan.length, p.name);
        let w = toF32(found.entry, await readSafetensorsTensor(found.file, found.entry));
        if (p.heads) w = unpermuteRows(w, shape[0]!, shape[1]!, p.heads);
        return fromFloat32(tensorType, w);
      },
    };
  });
  const tokenizer = await hfTokenizerMetadata(dir, config);
  const metadata = new Map<string, GgufValue>([
    ...llamaMetadata({
      name: basename(dir),
      contextLength: count("max_position_embeddings", 2048),
      embedding: dim,
      feedForward: count("intermediate_size"),
      layers,
      heads,
      kvHeads,
      rmsEps: num("rms_norm_eps", 1e-5),
      ropeTheta: typeof config.rope_theta === "number" ? config.rope_theta : undefined,
      vocabSize: tokenizer.vocabSize,
      fileType: QUANT_TYPES[type].fileType,
    }),
    ...tokenizer.entries,
  ]);
  return writeGgufFile(out, metadata, tensors, 3);
}
