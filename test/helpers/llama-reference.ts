/**
 * A plain TypeScript forward pass of a small F32 llama GGUF (stories260K): RMSNorm, rotary
 * embeddings (llama.cpp's "normal" rope, adjacent pairs), grouped-query attention, SwiGLU. It
 * shares nothing with llama.cpp, so the logits it gives check what the engine reports.
 */
import { GgufFile } from "../../src/models/gguf/index.js";

type Matrix = { data: Float32Array; rows: number; cols: number };

export interface ReferenceModel {
  /** Logits of the next token after each prefix of `tokens` (one row per position). */
  logits(tokens: readonly number[]): Float64Array[];
}

async function matrix(file: GgufFile, name: string): Promise<Matrix> {
  const t = file.tensor(name);
  if (!t) throw new Error(`tensor ${name} is missing`);
  // GGML type 0 is F32.
  if (Number(t.type) !== 0) throw new Error(`tensor ${name} is not F32`);
  const bytes = await file.readTensor(t);
  const data = new Float32Array(
    bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
  );
  const cols = Number(t.dims[0]);
  return { data, rows: t.dims.length > 1 ? Number(t.dims[1]) : 1, cols };
}

/** y = W x, with W stored as `rows` rows of `cols` (GGUF's ne[0] is the row length). */
function matVec(w: Matrix, x: Float64Array): Float64Array {
  const y = new Float64Array(w.rows);
  for (let r = 0; r < w.rows; r++) {
    let sum = 0;
    const base = r * w.cols;
    for (let c = 0; c < w.cols; c++) sum += w.data[base + c]! * x[c]!;
    y[r] = sum;
  }
  return y;
}

function rmsNorm(x: Float64Array, weight: Matrix, eps: number): Float64Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const scale = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * scale * weight.data[i]!);
}

function rope(
  x: Float64Array,
  heads: number,
  headDim: number,
  ropeDims: number,
  pos: number,
  base: number,
) {
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < ropeDims; i += 2) {
      const theta = pos * Math.pow(base, -i / ropeDims);
      const a = x[h * headDim + i]!;
      const b = x[h * headDim + i + 1]!;
      x[h * headDim + i] = a * Math.cos(theta) - b * Math.sin(theta);
      x[h * headDim + i + 1] = a * Math.sin(theta) + b * Math.cos(theta);
    }
  }
}

/** Loads the weights of a llama-architecture F32 GGUF. */
export async function loadReferenceModel(path: string): Promise<ReferenceModel> {
  const file = await GgufFile.open(path);
  const arch = file.architecture;
  const meta = (k: string, fallback?: number) => {
    const v = file.meta.number(`${arch}.${k}`) ?? fallback;
    if (v === undefined) throw new Error(`${arch}.${k} is missing`);
    return v;
  };
  const dim = meta("embedding_length");
  const layers = meta("block_count");
  const heads = meta("attention.head_count");
  const kvHeads = meta("attention.head_count_kv", heads);
  const eps = meta("attention.layer_norm_rms_epsilon");
  const headDim = dim / heads;
  const ropeDims = meta("rope.dimension_count", headDim);
  const ropeBase = meta("rope.freq_base", 10000);
  const embed = await matrix(file, "token_embd.weight");
  const outNorm = await matrix(file, "output_norm.weight");
  const output = file.tensor("output.weight") ? await matrix(file, "output.weight") : embed;
  const blocks: Record<
    "attnNorm" | "q" | "k" | "v" | "o" | "ffnNorm" | "gate" | "up" | "down",
    Matrix
  >[] = [];
  for (let l = 0; l < layers; l++) {
    const m = (n: string) => matrix(file, `blk.${l}.${n}.weight`);
    blocks.push({
      attnNorm: await m("attn_norm"),
      q: await m("attn_q"),
      k: await m("attn_k"),
      v: await m("attn_v"),
      o: await m("attn_output"),
      ffnNorm: await m("ffn_norm"),
      gate: await m("ffn_gate"),
      up: await m("ffn_up"),
      down: await m("ffn_down"),
    });
  }

  return {
    logits(tokens) {
      const keys: Float64Array[][] = blocks.map(() => []);
      const values: Float64Array[][] = blocks.map(() => []);
      const rows: Float64Array[] = [];
      tokens.forEach((token, pos) => {
        let x = Float64Array.from(embed.data.subarray(token * dim, (token + 1) * dim));
        blocks.forEach((b, l) => {
          const h = rmsNorm(x, b.attnNorm, eps);
          const q = matVec(b.q, h);
          const k = matVec(b.k, h);
          rope(q, heads, headDim, ropeDims, pos, ropeBase);
          rope(k, kvHeads, headDim, ropeDims, pos, ropeBase);
          keys[l]!.push(k);
          values[l]!.push(matVec(b.v, h));
          const attn = new Float64Array(dim);
          for (let head = 0; head < heads; head++) {
            const kv = Math.floor(head / (heads / kvHeads));
            const scores = keys[l]!.map((key) => {
              let s = 0;
              for (let i = 0; i < headDim; i++)
                s += q[head * headDim + i]! * key[kv * headDim + i]!;
              return s / Math.sqrt(headDim);
            });
            const max = Math.max(...scores);
            const weights = scores.map((s) => Math.exp(s - max));
            const total = weights.reduce((a, w) => a + w, 0);
            weights.forEach((w, t) => {
              const value = values[l]![t]!;
              for (let i = 0; i < headDim; i++) {
                attn[head * headDim + i] += (w / total) * value[kv * headDim + i]!;
              }
            });
          }
          const afterAttn = matVec(b.o, attn).map((v, i) => v + x[i]!);
          const f = rmsNorm(afterAttn, b.ffnNorm, eps);
          const gate = matVec(b.gate, f);
          const up = matVec(b.up, f);
          const act = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]!);
          x = matVec(b.down, act).map((v, i) => v + afterAttn[i]!);
        });
        rows.push(matVec(output, rmsNorm(x, outNorm, eps)));
      });
      return rows;
    },
  };
}

/** log-softmax of one row of logits. */
export function logSoftmax(logits: Float64Array): Float64Array {
  const max = Math.max(...logits);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const log = Math.log(sum) + max;
  return logits.map((v) => v - log);
}
