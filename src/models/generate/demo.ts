/**
 * The built-in demo model: a word-level bigram table in the weights of a one-layer llama.
 *
 * How the weights make a bigram model: each token's embedding is a one-hot vector naming its
 * "state" (the word it is, or a shared start state). The attention and feed-forward outputs
 * are zero, so the residual stream stays that one-hot vector; the final RMSNorm scales a one-hot
 * vector of width W by √W, which the norm weight 1/√W undoes; and row j of the output matrix
 * holds log P(token j | state), so the logits are the bigram's log-probabilities and sampling
 * at temperature 1 walks the word pairs of DEMO_TEXT.
 */
import { rename } from "node:fs/promises";
import { GgmlType, type GgufValue } from "../gguf/types.js";
import { gv, writeGgufFile, type GgufTensorInput } from "../gguf/writer.js";
import { DEMO_TEXT } from "./demo-text.js";
import { addWord, baseVocabulary, spmMetadata } from "./spm-vocab.js";

export const DEMO_MODEL_NAME = "bulwark-demo";
export const DEMO_MODEL_DESCRIPTION =
  "Built-in demo model: not a trained language model. A table of word pairs from a few " +
  "paragraphs written for Bulwark, stored in a one-layer llama, so the server runs with no " +
  "model given. Its text reads like a story but it does not understand prompts; start the " +
  "server with --model to serve a real model.";

/** Bumped whenever the generated weights change, so a cached file is rebuilt. */
export const DEMO_MODEL_VERSION = 1;

/** Logit of a word pair that never occurs in the text: e^-30 makes it practically unreachable. */
const NEVER = -30;

/** Words and punctuation of the text, with "\n" at paragraph ends. */
export function demoWords(text = DEMO_TEXT): string[] {
  const out: string[] = [];
  for (const paragraph of text.split(/\n\s*\n/)) {
    out.push(...(paragraph.match(/[A-Za-z']+|[.,!?;:]/g) ?? []), "\n");
  }
  out.pop();
  return out;
}

export interface DemoModel {
  metadata: Map<string, GgufValue>;
  tensors: GgufTensorInput[];
  /** For tests: the pairs (previous → next token text) the text contains. */
  pairs: Set<string>;
}

/** Builds the demo model in memory (deterministic: the same bytes every time). */
export function buildDemoModel(): DemoModel {
  const words = demoWords();
  const vocab = baseVocabulary();
  const NEWLINE = vocab.index.get("<0x0A>")!;
  const EOS = 2;
  const tokenOf = (w: string) =>
    w === "\n" ? NEWLINE : /^[.,!?;:]$/.test(w) ? -1 : addWord(vocab, w);
  const ids: number[] = [];
  for (const w of words) {
    let id = tokenOf(w);
    if (id === -1) id = vocab.index.get(w) ?? addPunct(vocab, w);
    ids.push(id);
  }
  // States: 0 is the start state (BOS, a new paragraph, any token not in the text's words).
  const stateOf = new Map<number, number>();
  for (const id of ids) if (id !== NEWLINE && !stateOf.has(id)) stateOf.set(id, stateOf.size + 1);
  const nStates = stateOf.size + 1;
  const width = Math.ceil(nStates / 64) * 64;
  const V = vocab.tokens.length;

  // Counts of next tokens per state; paragraph starts follow the start state, and the end of
  // the text is followed by EOS.
  const counts = Array.from({ length: nStates }, () => new Map<number, number>());
  const bump = (state: number, next: number) =>
    counts[state]!.set(next, (counts[state]!.get(next) ?? 0) + 1);
  const pairs = new Set<string>();
  let prev = 0;
  let prevToken = -1;
  for (const id of ids) {
    bump(prev, id);
    if (prevToken >= 0) pairs.add(`${vocab.tokens[prevToken]}→${vocab.tokens[id]}`);
    prev = id === NEWLINE ? 0 : stateOf.get(id)!;
    prevToken = id === NEWLINE ? -1 : id;
  }
  bump(prev, EOS);

  const embd = new Float32Array(V * width);
  for (let t = 0; t < V; t++) embd[t * width + (stateOf.get(t) ?? 0)] = 1;
  const output = new Float32Array(V * width).fill(NEVER);
  for (let s = 0; s < nStates; s++) {
    const total = [...counts[s]!.values()].reduce((a, b) => a + b, 0);
    for (const [next, c] of counts[s]!) output[next * width + s] = Math.log(c / total);
  }
  const norm = new Float32Array(width).fill(1 / Math.sqrt(width));
  const ones = new Float32Array(width).fill(1);
  const heads = width / 64;
  const ff = 64;
  const bytes = (a: Float32Array) => new Uint8Array(a.buffer);
  const zeros = (n: number) => new Uint8Array(n * 4);
  const tensors: GgufTensorInput[] = [
    { name: "token_embd.weight", dims: [width, V], type: GgmlType.F32, data: bytes(embd) },
    { name: "output_norm.weight", dims: [width], type: GgmlType.F32, data: bytes(norm) },
    { name: "output.weight", dims: [width, V], type: GgmlType.F32, data: bytes(output) },
    { name: "blk.0.attn_norm.weight", dims: [width], type: GgmlType.F32, data: bytes(ones) },
    {
      name: "blk.0.attn_q.weight",
      dims: [width, width],
      type: GgmlType.F32,
      data: zeros(width * width),
    },
    { name: "blk.0.attn_k.weight", dims: [width, 64], type: GgmlType.F32, data: zeros(width * 64) },
    { name: "blk.0.attn_v.weight", dims: [width, 64], type: GgmlType.F32, data: zeros(width * 64) },
    {
      name: "blk.0.attn_output.weight",
      dims: [width, width],
      type: GgmlType.F32,
      data: zeros(width * width),
    },
    { name: "blk.0.ffn_norm.weight", dims: [width], type: GgmlType.F32, data: bytes(ones) },
    {
      name: "blk.0.ffn_gate.weight",
      dims: [width, ff],
      type: GgmlType.F32,
      data: zeros(width * ff),
    },
    {
      name: "blk.0.ffn_down.weight",
      dims: [ff, width],
      type: GgmlType.F32,
      data: zeros(width * ff),
    },
    { name: "blk.0.ffn_up.weight", dims: [width, ff], type: GgmlType.F32, data: zeros(width * ff) },
  ];
  const metadata = new Map<string, GgufValue>([
    ["general.architecture", gv.str("llama")],
    ["general.name", gv.str(DEMO_MODEL_NAME)],
    ["general.description", gv.str(DEMO_MODEL_DESCRIPTION)],
    ["general.file_type", gv.u32(0)],
    ["bulwark.demo.version", gv.u32(DEMO_MODEL_VERSION)],
    ["llama.context_length", gv.u32(2048)],
    ["llama.embedding_length", gv.u32(width)],
    ["llama.feed_forward_length", gv.u32(ff)],
    ["llama.block_count", gv.u32(1)],
    ["llama.attention.head_count", gv.u32(heads)],
    ["llama.attention.head_count_kv", gv.u32(1)],
    ["llama.rope.dimension_count", gv.u32(64)],
    ["llama.attention.layer_norm_rms_epsilon", gv.f32(1e-6)],
    ["llama.vocab_size", gv.u32(V)],
    ...spmMetadata(vocab),
  ]);
  return { metadata, tensors, pairs };
}

function addPunct(vocab: ReturnType<typeof baseVocabulary>, p: string): number {
  const id = vocab.tokens.length;
  vocab.tokens.push(p);
  vocab.scores.push(0);
  vocab.types.push(1);
  vocab.index.set(p, id);
  return id;
}

/** Writes the demo model to a file (through a temporary name, so a reader never sees half). */
export async function writeDemoModel(path: string): Promise<void> {
  const model = buildDemoModel();
  const tmp = `${path}.${process.pid}.tmp`;
  await writeGgufFile(tmp, model.metadata, model.tensors);
  await rename(tmp, path);
}
