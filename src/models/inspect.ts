/** What a model file is: format, architecture, size, tokenizer, chat template, memory need. */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { detectFormat } from "./formats/detect.js";
import { GgufMetadata } from "./gguf/file.js";
import { ggmlTypeName, tensorBytes, type GgufHeader } from "./gguf/types.js";
import { estimateMemory, type MemoryEstimate, type MemoryShape } from "./memory.js";
import { readSafetensorsHeader } from "./formats/safetensors.js";

export interface ModelDescription {
  path: string;
  format: string;
  formatVersion?: number;
  sizeBytes: number;
  architecture?: string;
  name?: string;
  parameters?: number;
  /** The dominant weight type (the type of most parameters), e.g. F32 or Q8_0. */
  quantization?: string;
  /** Parameters per tensor type. */
  tensorTypes?: Record<string, number>;
  tensorCount?: number;
  contextLength?: number;
  embeddingLength?: number;
  layers?: number;
  heads?: number;
  kvHeads?: number;
  feedForwardLength?: number;
  tokenizer?: { model?: string; vocabSize: number; bos?: number; eos?: number; unknown?: number };
  chatTemplate?: string;
  /** Present when the shape is known: the estimate for the asked context and slots. */
  memory?: MemoryEstimate;
  memoryShape?: MemoryShape;
  notes: string[];
}

export interface InspectOptions {
  contextSize?: number;
  slots?: number;
}

/** Describes a GGUF header (no I/O). */
export function describeGgufHeader(
  path: string,
  header: GgufHeader,
  fileSize: number,
  options: InspectOptions = {},
): ModelDescription {
  const meta = new GgufMetadata(header.metadata);
  const arch = meta.string("general.architecture");
  const key = (k: string) => meta.number(`${arch}.${k}`);
  const typeCounts: Record<string, number> = {};
  let parameters = 0;
  let weightsBytes = 0;
  for (const t of header.tensors) {
    const n = t.dims.reduce((a, b) => a * b, 1);
    parameters += n;
    weightsBytes += tensorBytes(t.type, t.dims);
    const name = ggmlTypeName(t.type);
    typeCounts[name] = (typeCounts[name] ?? 0) + n;
  }
  const quantization = Object.entries(typeCounts).sort((a, b) => b[1] - a[1])[0]?.[0];
  const tokens = meta.array("tokenizer.ggml.tokens");
  const heads = key("attention.head_count");
  const kvHeads = key("attention.head_count_kv") ?? heads;
  const embedding = key("embedding_length");
  const layers = key("block_count");
  const headDim =
    key("attention.key_length") ?? (embedding && heads ? embedding / heads : undefined);
  const contextLength = key("context_length");
  const notes: string[] = [];
  const template = meta.string("tokenizer.chat_template");
  if (!template)
    notes.push("no chat template: chat requests use the fallback format for the architecture");
  if (!tokens) notes.push("no embedded tokenizer: llama.cpp cannot load this file");
  const desc: ModelDescription = {
    path,
    format: "gguf",
    formatVersion: header.version,
    sizeBytes: fileSize,
    architecture: arch,
    name: meta.string("general.name"),
    parameters,
    quantization,
    tensorTypes: typeCounts,
    tensorCount: header.tensors.length,
    contextLength,
    embeddingLength: embedding,
    layers,
    heads,
    kvHeads,
    feedForwardLength: key("feed_forward_length"),
    tokenizer: tokens
      ? {
          model: meta.string("tokenizer.ggml.model"),
          vocabSize: tokens.length,
          bos: meta.number("tokenizer.ggml.bos_token_id"),
          eos: meta.number("tokenizer.ggml.eos_token_id"),
          unknown: meta.number("tokenizer.ggml.unknown_token_id"),
        }
      : undefined,
    chatTemplate: template,
    notes,
  };
  if (layers && kvHeads && headDim && embedding) {
    const shape: MemoryShape = {
      weightsBytes,
      layers,
      kvHeads,
      headDim,
      vocabSize: tokens?.length ?? 0,
      embeddingSize: embedding,
    };
    desc.memoryShape = shape;
    const ctx = Math.min(options.contextSize ?? 2048, contextLength ?? Infinity);
    desc.memory = estimateMemory(shape, ctx, options.slots ?? 4);
  }
  return desc;
}

/** Detects the format and describes the model. */
export async function inspectModel(
  path: string,
  options: InspectOptions = {},
): Promise<ModelDescription> {
  const d = await detectFormat(path);
  switch (d.format) {
    case "gguf":
      return describeGgufHeader(path, d.header, d.fileSize, options);
    case "safetensors": {
      const types: Record<string, number> = {};
      let parameters = 0;
      for (const t of d.header.tensors) {
        const n = t.shape.reduce((a, b) => a * b, 1);
        parameters += n;
        types[t.dtype] = (types[t.dtype] ?? 0) + n;
      }
      return {
        path,
        format: "safetensors",
        sizeBytes: d.fileSize,
        parameters,
        tensorTypes: types,
        tensorCount: d.header.tensors.length,
        quantization: Object.entries(types).sort((a, b) => b[1] - a[1])[0]?.[0],
        notes: [
          "safetensors holds weights only; convert its Hugging Face folder to GGUF to serve it",
        ],
      };
    }
    case "llama2c": {
      const c = d.config;
      return {
        path,
        format: "llama2c",
        sizeBytes: d.fileSize,
        architecture: "llama",
        quantization: "F32",
        contextLength: c.seqLen,
        embeddingLength: c.dim,
        layers: c.nLayers,
        heads: c.nHeads,
        kvHeads: c.nKvHeads,
        feedForwardLength: c.hiddenDim,
        parameters: (d.fileSize - 28) / 4,
        tokenizer: { vocabSize: c.vocabSize },
        notes: ["llama2.c checkpoint: convert it with its tokenizer.bin to GGUF to serve it"],
      };
    }
    case "onnx":
      return {
        path,
        format: "onnx",
        sizeBytes: d.fileSize,
        notes: [
          "ONNX models are not served by llama.cpp; export the original model to GGUF instead",
        ],
      };
    case "hf-folder": {
      const config = JSON.parse(await readFile(join(path, "config.json"), "utf8")) as Record<
        string,
        unknown
      >;
      let parameters = 0;
      let sizeBytes = 0;
      const types: Record<string, number> = {};
      for (const f of d.files.filter((x) => x.endsWith(".safetensors"))) {
        const h = await readSafetensorsHeader(f);
        sizeBytes += h.fileSize;
        for (const t of h.tensors) {
          const n = t.shape.reduce((a, b) => a * b, 1);
          parameters += n;
          types[t.dtype] = (types[t.dtype] ?? 0) + n;
        }
      }
      const num = (k: string) =>
        typeof config[k] === "number" ? (config[k] as number) : undefined;
      return {
        path,
        format: "hf-folder",
        sizeBytes,
        architecture: Array.isArray(config.architectures)
          ? String(config.architectures[0])
          : undefined,
        parameters,
        tensorTypes: types,
        quantization: Object.entries(types).sort((a, b) => b[1] - a[1])[0]?.[0],
        contextLength: num("max_position_embeddings"),
        embeddingLength: num("hidden_size"),
        layers: num("num_hidden_layers"),
        heads: num("num_attention_heads"),
        kvHeads: num("num_key_value_heads") ?? num("num_attention_heads"),
        feedForwardLength: num("intermediate_size"),
        tokenizer: num("vocab_size") ? { vocabSize: num("vocab_size")! } : undefined,
        notes: [
          "Hugging Face folder: convert it to GGUF with `bulwark models convert` to serve it",
        ],
      };
    }
  }
}
