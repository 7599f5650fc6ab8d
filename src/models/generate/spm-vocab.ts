/**
 * A SentencePiece-style ("llama") vocabulary built in code: the special tokens, the 256 byte
 * fallback tokens, single characters, and "▁"-prefixed words with every prefix of each word.
 * llama.cpp's SPM tokenizer merges adjacent symbols only into tokens of the vocabulary, and a
 * merged symbol here always starts with "▁", so words grow from the left one character at a
 * time; the prefixes are the steps of that path, and each word tokenizes to one token.
 */
import { gv } from "../gguf/writer.js";
import type { GgufValue } from "../gguf/types.js";

/** llama.cpp's token types (llama_token_type). */
export const TokenType = {
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;

export interface Vocabulary {
  tokens: string[];
  scores: number[];
  types: number[];
  index: Map<string, number>;
}

export const SPACE = "\u2581";

/** Special tokens and byte fallbacks: ids 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>. */
export function baseVocabulary(): Vocabulary {
  const v: Vocabulary = { tokens: [], scores: [], types: [], index: new Map() };
  addToken(v, "<unk>", 0, TokenType.UNKNOWN);
  addToken(v, "<s>", 0, TokenType.CONTROL);
  addToken(v, "</s>", 0, TokenType.CONTROL);
  for (let b = 0; b < 256; b++) {
    addToken(v, `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`, 0, TokenType.BYTE);
  }
  return v;
}

/** Adds a token when it is new; returns its id. */
export function addToken(
  v: Vocabulary,
  text: string,
  score: number,
  type: number = TokenType.NORMAL,
): number {
  const known = v.index.get(text);
  if (known !== undefined) return known;
  const id = v.tokens.length;
  v.tokens.push(text);
  v.scores.push(score);
  v.types.push(type);
  v.index.set(text, id);
  return id;
}

/** Adds a word as "▁word" with all its prefixes and characters, so that it tokenizes whole. */
export function addWord(v: Vocabulary, word: string): number {
  const chars = [...word];
  for (const c of chars) addToken(v, c, -1000);
  addToken(v, SPACE, -1000);
  for (let i = 1; i < chars.length; i++)
    addToken(v, SPACE + chars.slice(0, i).join(""), -(chars.length - i));
  return addToken(v, SPACE + word, 0);
}

/** The tokenizer metadata llama.cpp needs for a "llama" (SentencePiece) vocabulary. */
export function spmMetadata(v: Vocabulary): [string, GgufValue][] {
  return [
    ["tokenizer.ggml.model", gv.str("llama")],
    ["tokenizer.ggml.tokens", gv.strs(v.tokens)],
    ["tokenizer.ggml.scores", gv.f32s(v.scores)],
    ["tokenizer.ggml.token_type", gv.i32s(v.types)],
    ["tokenizer.ggml.unknown_token_id", gv.u32(0)],
    ["tokenizer.ggml.bos_token_id", gv.u32(1)],
    ["tokenizer.ggml.eos_token_id", gv.u32(2)],
    ["tokenizer.ggml.add_bos_token", gv.bool(true)],
    ["tokenizer.ggml.add_eos_token", gv.bool(false)],
  ];
}
