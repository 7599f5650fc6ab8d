/** What the llama-server replica reads from a model's GGUF tokenizer metadata. */
import type { GgufFile } from "../../models/gguf/index.js";

/** GGUF token type 3 is a control token (llama.cpp's LLAMA_TOKEN_TYPE_CONTROL). */
const CONTROL_TOKEN_TYPE = 3;

/** The ids of the control tokens, from the GGUF's tokenizer.ggml.token_type. */
export function controlTokensOf(types: readonly unknown[] | undefined): Set<number> {
  const ids = new Set<number>();
  types?.forEach((type, id) => {
    if (Number(type) === CONTROL_TOKEN_TYPE) ids.add(id);
  });
  return ids;
}

/** The model's built-in special token ids (null where it has none). */
export function builtinTokensOf(gguf: GgufFile): {
  bos: number | null;
  eos: number | null;
  eot: number | null;
  sep: number | null;
} {
  return {
    bos: gguf.meta.number("tokenizer.ggml.bos_token_id") ?? null,
    eos: gguf.meta.number("tokenizer.ggml.eos_token_id") ?? null,
    eot: gguf.meta.number("tokenizer.ggml.eot_token_id") ?? null,
    sep: gguf.meta.number("tokenizer.ggml.seperator_token_id") ?? null,
  };
}
