/**
 * The prompts a bench sends. Datasets:
 * - random: prompts of exactly --input-len tokens (by the server's /tokenize), each different;
 * - builtin: the built-in prompt set, cycled;
 * - jsonl: one JSON object a line with `prompt` (or `text`) or `messages`, and optionally
 *   `output_len` (or `max_tokens`);
 * - repeat-mix: random prompts of which a share are exact repeats of an earlier prompt and a
 *   share start with a shared prefix (one, or one of --prefix-groups), to exercise response and
 *   prefix caches and prefix-affinity routing.
 * Everything random comes from --seed, so the same flags give the same prompts.
 */
import { readFile } from "node:fs/promises";
import { BUILTIN_PROMPTS, WORDS } from "./builtin-prompts.js";
import { seededRandom, type Random } from "./schedule.js";
import { exactText, type ServerTokenizer } from "./tokenizer.js";

export type ChatMessage = { role: string; content: string };

export interface BenchRequest {
  prompt: string | ChatMessage[];
  /** Prompt tokens when known in advance (random, repeat-mix). */
  promptLen?: number;
  outputLen: number;
  cacheRole?: "repeat" | "prefix" | "unique";
}

export interface DatasetOptions {
  dataset: "random" | "builtin" | "jsonl" | "repeat-mix";
  numPrompts: number;
  inputLen: number;
  outputLen: number;
  seed: number;
  /** jsonl: the file. */
  path?: string;
  /** repeat-mix: share (0..1) of exact repeats of an earlier prompt. */
  repeatShare: number;
  /** repeat-mix: share (0..1) of prompts that start with the shared prefix. */
  prefixShare: number;
  /** repeat-mix: the shared prefix's length in tokens. */
  prefixLen: number;
  /**
   * repeat-mix: distinct shared prefixes (default 1); each prefixed prompt starts with one of
   * them, drawn from the seed. Several groups show whether routing keeps a group where its
   * prefix is cached.
   */
  prefixGroups?: number;
}

/** Kind of each repeat-mix request, drawn from the seed: the first is always unique. */
export function repeatMixPlan(
  count: number,
  repeatShare: number,
  prefixShare: number,
  random: Random,
): { role: "repeat" | "prefix" | "unique"; source?: number }[] {
  if (repeatShare < 0 || prefixShare < 0 || repeatShare + prefixShare > 1) {
    throw new RangeError("repeat and prefix shares must be >= 0 and add up to at most 1");
  }
  const plan: { role: "repeat" | "prefix" | "unique"; source?: number }[] = [];
  const originals: number[] = [];
  for (let i = 0; i < count; i++) {
    const u = random();
    if (i > 0 && u < repeatShare) {
      plan.push({ role: "repeat", source: originals[Math.floor(random() * originals.length)]! });
    } else {
      plan.push({ role: u < repeatShare + prefixShare && i > 0 ? "prefix" : "unique" });
      originals.push(i);
    }
  }
  return plan;
}

function randomWords(random: Random, count: number): string {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(WORDS[Math.floor(random() * WORDS.length)]!);
  return out.join(" ");
}

/** Random token bodies (no special tokens) from random words, at least `len` tokens each. */
async function tokenBody(tok: ServerTokenizer, random: Random, len: number): Promise<number[]> {
  let words = Math.max(4, len);
  for (;;) {
    const ids = await tok.tokenize(" " + randomWords(random, words), false);
    if (ids.length >= len + 2) return ids;
    words *= 2;
  }
}

async function specialCount(tok: ServerTokenizer): Promise<number> {
  const [withSpecial, without] = await Promise.all([
    tok.tokenize("hello", true),
    tok.tokenize("hello", false),
  ]);
  return withSpecial.length - without.length;
}

async function loadJsonl(path: string, options: DatasetOptions): Promise<BenchRequest[]> {
  const text = await readFile(path, "utf8");
  const out: BenchRequest[] = [];
  text.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    let row: Record<string, unknown>;
    try {
      row = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new RangeError(`${path}:${i + 1}: not a JSON object`);
    }
    const prompt = row.prompt ?? row.text ?? row.messages;
    const valid =
      typeof prompt === "string" ||
      (Array.isArray(prompt) &&
        prompt.every((m) => typeof m?.role === "string" && typeof m?.content === "string"));
    if (!valid) {
      throw new RangeError(`${path}:${i + 1}: needs "prompt" (a string) or "messages"`);
    }
    const outputLen = Number(row.output_len ?? row.max_tokens ?? options.outputLen);
    if (!Number.isInteger(outputLen) || outputLen < 1) {
      throw new RangeError(`${path}:${i + 1}: output_len must be an integer >= 1`);
    }
    out.push({ prompt: prompt as string | ChatMessage[], outputLen });
  });
  if (out.length === 0) throw new RangeError(`${path}: no prompts`);
  return out;
}

/** Cycles `items` to `count` entries. */
function cycle<T>(items: readonly T[], count: number): T[] {
  return Array.from({ length: count }, (_, i) => items[i % items.length]!);
}

/**
 * Builds `numPrompts` requests. `tok` is needed by random and repeat-mix (exact lengths);
 * `onProgress` reports prompts built, since each costs a few /tokenize calls.
 */
export async function buildDataset(
  options: DatasetOptions,
  tok: ServerTokenizer | undefined,
  onProgress: (done: number, total: number) => void = () => undefined,
): Promise<BenchRequest[]> {
  const n = options.numPrompts;
  switch (options.dataset) {
    case "builtin":
      return cycle(BUILTIN_PROMPTS, n).map((prompt) => ({ prompt, outputLen: options.outputLen }));
    case "jsonl":
      if (!options.path) throw new RangeError("--dataset jsonl needs --dataset-path FILE");
      return cycle(await loadJsonl(options.path, options), n);
    case "random":
    case "repeat-mix": {
      if (!tok) throw new Error(`--dataset ${options.dataset} needs the server's /tokenize`);
      const random = seededRandom(options.seed ^ 0x5eed);
      const specials = await specialCount(tok);
      if (options.inputLen <= specials) {
        throw new RangeError(`--input-len must be more than the ${specials} special token(s)`);
      }
      const filler = await tok.tokenize(" " + randomWords(random, 64), false);
      const plan =
        options.dataset === "random"
          ? Array.from({ length: n }, () => ({ role: "unique" as const, source: undefined }))
          : repeatMixPlan(n, options.repeatShare, options.prefixShare, random);
      const prefixLen = Math.min(options.prefixLen, options.inputLen - specials - 1);
      const groups = options.dataset === "repeat-mix" ? Math.max(1, options.prefixGroups ?? 1) : 0;
      const prefixes: number[][] = [];
      for (let g = 0; g < groups; g++) prefixes.push(await tokenBody(tok, random, prefixLen));
      const out: BenchRequest[] = [];
      for (let i = 0; i < n; i++) {
        const step = plan[i]!;
        if (step.role === "repeat") {
          out.push({ ...out[step.source!]!, cacheRole: "repeat" });
        } else {
          const own = await tokenBody(tok, random, options.inputLen);
          const prefix = prefixes[groups > 1 ? Math.floor(random() * groups) : 0] ?? [];
          const body = step.role === "prefix" ? [...prefix.slice(0, prefixLen), ...own] : own;
          const prompt = await exactText(tok, body, options.inputLen, specials, filler);
          out.push({
            prompt,
            promptLen: options.inputLen,
            outputLen: options.outputLen,
            cacheRole: options.dataset === "repeat-mix" ? step.role : undefined,
          });
        }
        onProgress(i + 1, n);
      }
      return out;
    }
  }
}
