/**
 * Token counts through the server's own tokenizer, so that `random` prompts are exact in
 * tokens. Two shapes exist: vLLM's (and Bulwark's) POST /tokenize {model, prompt} →
 * {tokens, count} and POST /detokenize {model, tokens} → {prompt}; llama.cpp's server takes
 * {content, add_special} → {tokens} and {tokens} → {content}. The first call finds out which.
 */
import type { HttpTarget } from "./http.js";
import { postForJson } from "./http.js";

export interface ServerTokenizer {
  /** "vllm" for vLLM and Bulwark, "llama.cpp" for llama-server. */
  readonly flavor: "vllm" | "llama.cpp";
  tokenize(text: string, addSpecial: boolean): Promise<number[]>;
  detokenize(tokens: readonly number[]): Promise<string>;
}

function tokensOf(json: Record<string, unknown>): number[] {
  const tokens = json.tokens;
  if (!Array.isArray(tokens)) throw new Error("the /tokenize answer has no tokens array");
  // llama-server can answer [{id, piece}] when asked for pieces; plain ids otherwise.
  return tokens.map((t) => (typeof t === "number" ? t : (t as { id: number }).id));
}

/** Probes /tokenize in vLLM's shape, then in llama.cpp's; throws when neither answers. */
export async function connectTokenizer(
  target: HttpTarget,
  model: string,
): Promise<ServerTokenizer> {
  const vllm: ServerTokenizer = {
    flavor: "vllm",
    tokenize: async (text, addSpecial) =>
      tokensOf(
        await postForJson(target, "/tokenize", {
          model,
          prompt: text,
          add_special_tokens: addSpecial,
        }),
      ),
    detokenize: async (tokens) => {
      const json = await postForJson(target, "/detokenize", { model, tokens });
      return String(json.prompt ?? json.content ?? "");
    },
  };
  const llama: ServerTokenizer = {
    flavor: "llama.cpp",
    tokenize: async (text, addSpecial) =>
      tokensOf(await postForJson(target, "/tokenize", { content: text, add_special: addSpecial })),
    detokenize: async (tokens) =>
      String((await postForJson(target, "/detokenize", { tokens })).content ?? ""),
  };
  const errors: string[] = [];
  // vLLM's answer carries `count`; llama-server answers the vLLM-shaped probe too (it ignores
  // `prompt` and tokenizes an empty content), so the count is what tells them apart.
  try {
    const json = await postForJson(target, "/tokenize", {
      model,
      prompt: "hello",
      add_special_tokens: true,
    });
    if (typeof json.count === "number" && tokensOf(json).length > 0) return vllm;
    errors.push("vLLM shape: no count in the answer");
  } catch (err) {
    errors.push((err as Error).message);
  }
  try {
    if ((await llama.tokenize("hello", true)).length > 0) return llama;
    errors.push("llama.cpp shape: no tokens for a word");
  } catch (err) {
    errors.push((err as Error).message);
  }
  throw new Error(
    `the server's /tokenize answered in neither vLLM's nor llama.cpp's shape, so exact ` +
      `token lengths are not possible (${errors.join("; ")})`,
  );
}

/**
 * Turns `body` (tokens without special tokens) into text that the server tokenizes (with its
 * special tokens) to exactly `target` tokens. Detokenizing and tokenizing again can merge or
 * split tokens at the edges, so it trims or extends by the difference and tries again.
 */
export async function exactText(
  tok: ServerTokenizer,
  body: readonly number[],
  target: number,
  specials: number,
  filler: readonly number[],
): Promise<string> {
  let want = target - specials;
  let text = "";
  for (let attempt = 0; attempt < 12; attempt++) {
    const ids = body.length >= want ? body.slice(0, want) : [...body, ...filler].slice(0, want);
    text = await tok.detokenize(ids);
    const got = (await tok.tokenize(text, true)).length;
    if (got === target) return text;
    want += target - got;
    if (want <= 0) break;
  }
  throw new Error(
    `could not build a prompt of exactly ${target} tokens (last try: "${text.slice(0, 60)}…")`,
  );
}
