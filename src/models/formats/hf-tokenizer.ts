/**
 * A Hugging Face folder's tokenizer as GGUF metadata: tokenizer.model (SentencePiece) when
 * present, else tokenizer.json (BPE with byte fallback, as Llama's fast tokenizer, becomes a
 * "llama" vocabulary whose scores follow the merge ranks; other BPE becomes "gpt2" with its
 * merges; Unigram keeps its scores). The chat template comes from tokenizer_config.json.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ModelFormatError } from "../errors.js";
import { gv } from "../gguf/writer.js";
import type { GgufValue } from "../gguf/types.js";
import { TokenType } from "../generate/spm-vocab.js";
import { parseSentencePieceModel } from "./sentencepiece.js";
import type { TokenizerTable } from "./llama2c-io.js";

interface TokenizerJson {
  model?: {
    type?: string;
    vocab?: Record<string, number> | [string, number][];
    merges?: (string | [string, string])[];
    byte_fallback?: boolean;
  };
  added_tokens?: { id: number; content: string; special?: boolean }[];
}

function typeOf(text: string, special: boolean): number {
  if (text === "<unk>") return TokenType.UNKNOWN;
  if (special) return TokenType.CONTROL;
  if (/^<0x[0-9A-F]{2}>$/.test(text)) return TokenType.BYTE;
  return TokenType.NORMAL;
}

async function readJson(path: string): Promise<Record<string, unknown> | undefined> {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>;
  } catch {
    throw new ModelFormatError("model_invalid", `${path} is not valid JSON`);
  }
}

function fromTokenizerJson(json: TokenizerJson): {
  model: string;
  table: TokenizerTable;
  merges?: string[];
} {
  const m = json.model ?? {};
  const special = new Set((json.added_tokens ?? []).filter((t) => t.special).map((t) => t.id));
  const table: TokenizerTable = { tokens: [], scores: [], types: [] };
  const put = (id: number, text: string, score: number) => {
    table.tokens[id] = text;
    table.scores[id] = score;
    table.types[id] = typeOf(text, special.has(id));
  };
  if (m.type === "Unigram" && Array.isArray(m.vocab)) {
    m.vocab.forEach(([text, score], id) => put(id, text, score));
  } else if (m.type === "BPE" && m.vocab && !Array.isArray(m.vocab)) {
    const merges = (m.merges ?? []).map((x) => (Array.isArray(x) ? x.join(" ") : x));
    const spm =
      m.byte_fallback === true || Object.keys(m.vocab).some((k) => k.startsWith("\u2581"));
    const rank = new Map<string, number>();
    merges.forEach((merge, i) => {
      const joined = merge.replace(" ", "");
      if (!rank.has(joined)) rank.set(joined, i);
    });
    for (const [text, id] of Object.entries(m.vocab)) {
      // SentencePiece merges the pair whose result scores highest: the earliest merge wins.
      put(id, text, spm ? -(rank.get(text) ?? -1) - 1 : 0);
    }
    for (const t of json.added_tokens ?? []) put(t.id, t.content, 0);
    if (!spm) return { model: "gpt2", table, merges };
  } else {
    throw new ModelFormatError(
      "model_unsupported",
      `tokenizer.json model type "${m.type}" is not supported (BPE and Unigram are)`,
    );
  }
  for (const t of json.added_tokens ?? [])
    if (table.tokens[t.id] === undefined) put(t.id, t.content, 0);
  for (let i = 0; i < table.tokens.length; i++) {
    if (table.tokens[i] === undefined) put(i, `[PAD${i}]`, 0);
  }
  return { model: "llama", table };
}

/** Tokenizer metadata from a Hugging Face folder. */
export async function hfTokenizerMetadata(
  dir: string,
  config: Record<string, unknown>,
): Promise<{ entries: [string, GgufValue][]; vocabSize: number }> {
  let model: string;
  let table: TokenizerTable;
  let merges: string[] | undefined;
  const spmPath = join(dir, "tokenizer.model");
  const jsonPath = join(dir, "tokenizer.json");
  if (existsSync(spmPath)) {
    model = "llama";
    table = parseSentencePieceModel(await readFile(spmPath));
  } else if (existsSync(jsonPath)) {
    ({ model, table, merges } = fromTokenizerJson((await readJson(jsonPath)) as TokenizerJson));
  } else {
    throw new ModelFormatError(
      "model_invalid",
      "the folder has neither tokenizer.model nor tokenizer.json",
    );
  }
  const tc = (await readJson(join(dir, "tokenizer_config.json"))) ?? {};
  const entries: [string, GgufValue][] = [
    ["tokenizer.ggml.model", gv.str(model)],
    ["tokenizer.ggml.tokens", gv.strs(table.tokens)],
    ["tokenizer.ggml.scores", gv.f32s(table.scores)],
    ["tokenizer.ggml.token_type", gv.i32s(table.types)],
  ];
  if (merges)
    entries.push(
      ["tokenizer.ggml.merges", gv.strs(merges)],
      ["tokenizer.ggml.pre", gv.str("default")],
    );
  const idOf = (key: string): number | undefined => {
    if (typeof config[key] === "number") return config[key] as number;
    const fromTc = tc[key.replace("_id", "")];
    const text =
      typeof fromTc === "string" ? fromTc : (fromTc as { content?: string } | undefined)?.content;
    const i = text === undefined ? -1 : table.tokens.indexOf(text);
    return i >= 0 ? i : undefined;
  };
  const ids: [string, number | undefined][] = [
    ["tokenizer.ggml.bos_token_id", idOf("bos_token_id")],
    ["tokenizer.ggml.eos_token_id", idOf("eos_token_id")],
    [
      "tokenizer.ggml.unknown_token_id",
      table.tokens.indexOf("<unk>") >= 0 ? table.tokens.indexOf("<unk>") : undefined,
    ],
    ["tokenizer.ggml.padding_token_id", idOf("pad_token_id")],
  ];
  for (const [key, id] of ids) if (id !== undefined) entries.push([key, gv.u32(id)]);
  if (typeof tc.add_bos_token === "boolean")
    entries.push(["tokenizer.ggml.add_bos_token", gv.bool(tc.add_bos_token)]);
  if (typeof tc.add_eos_token === "boolean")
    entries.push(["tokenizer.ggml.add_eos_token", gv.bool(tc.add_eos_token)]);
  let template = tc.chat_template;
  if (Array.isArray(template)) {
    template = (template as { name: string; template: string }[]).find(
      (t) => t.name === "default",
    )?.template;
  }
  if (typeof template === "string") entries.push(["tokenizer.chat_template", gv.str(template)]);
  return { entries, vocabSize: table.tokens.length };
}
