/**
 * Which replica or remote backend takes a request. Pure: the caller passes the loads and, for
 * prefix affinity, the request's prefix; the clock is injected.
 *
 * - least-outstanding: the target with the fewest requests in flight per slot (pickReplica).
 * - prefix-affinity: a request goes where the longest part of its prompt's beginning went last,
 *   so that target's KV prefix cache already holds it. The prompt is cut into blocks (16 tokens,
 *   or 64 characters when a remote backend takes text), and each block's hash chains the ones
 *   before it, so one number names "the first k blocks". Every target keeps an LRU of the chains
 *   it served. A match shorter than MIN_PREFIX_BLOCKS does not count (one short system prompt
 *   shared by every request would otherwise send them all to one place: vllm-project/
 *   production-stack #957), and the load guard sends a request to the least-loaded target
 *   instead when the affine one is fuller than it by more than LOAD_SLACK of its slots, so one
 *   hot prefix cannot starve the rest; the prefix is then recorded there too.
 */
import type { PreparedPrompt, PromptInput } from "../engine/index.js";
import { pickReplica, type ReplicaLoad } from "./slot-choice.js";

export type RoutingPolicy = "least-outstanding" | "prefix-affinity";

/** Tokens per block of a token prompt. */
export const TOKEN_BLOCK = 16;
/** Characters per block of a text prompt (about as many tokens as TOKEN_BLOCK for English). */
export const CHAR_BLOCK = 64;
/** Blocks a match must cover to count: 64 tokens, 256 characters. */
export const MIN_PREFIX_BLOCKS = 4;
/** Blocks of a prompt hashed at most: 1,024 tokens, 4,096 characters. */
export const MAX_PREFIX_BLOCKS = 64;
/** Prefix chains each target remembers (least recently used dropped first). */
export const CHAINS_PER_TARGET = 8_192;
/** How much fuller (busy/slots) than the least-loaded target the affine one may be. */
export const LOAD_SLACK = 0.5;

/** Picks a target for a request; `prefix`: its block chain (prefixChain), if routed by prefix. */
export interface Router {
  choose<R extends ReplicaLoad>(loads: readonly R[], prefix?: readonly number[]): R | undefined;
  /** A target left for good (its id is never reused): forget what it served. */
  forget(id: string): void;
}

/** The default: least requests in flight per slot. */
export const leastOutstanding: Router = {
  choose: (loads) => pickReplica(loads),
  forget: () => undefined,
};

/** FNV-1a over 32-bit words, chained: the hash of block i covers blocks 0..i. */
function mix(hash: number, value: number): number {
  let h = hash;
  for (let shift = 0; shift < 32; shift += 8) {
    h ^= (value >>> shift) & 0xff;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * The block chain of a prompt: one hash per whole block, each covering every block before it.
 * Token ids when the prompt has them, else the characters of its text.
 */
export function prefixChain(prompt: { tokens: readonly number[] } | { text: string }): number[] {
  const tokens = "tokens" in prompt;
  const size = tokens ? TOKEN_BLOCK : CHAR_BLOCK;
  const length = tokens ? prompt.tokens.length : prompt.text.length;
  const valueAt = tokens
    ? (i: number) => prompt.tokens[i]!
    : (i: number) => prompt.text.charCodeAt(i);
  // A different seed for text: a text chain never equals a token chain.
  let hash = tokens ? 0x811c9dc5 : mix(0x811c9dc5, 0x7e47);
  const chain: number[] = [];
  const blocks = Math.min(MAX_PREFIX_BLOCKS, Math.floor(length / size));
  for (let b = 0; b < blocks; b++) {
    for (let i = b * size; i < (b + 1) * size; i++) hash = mix(hash, valueAt(i));
    chain.push(hash);
  }
  return chain;
}

export interface PrefixAffinityOptions {
  minBlocks: number;
  chainsPerTarget: number;
  loadSlack: number;
}

const defaults: PrefixAffinityOptions = {
  minBlocks: MIN_PREFIX_BLOCKS,
  chainsPerTarget: CHAINS_PER_TARGET,
  loadSlack: LOAD_SLACK,
};

/** Prefix affinity with an LRU of block chains per target and a load guard. */
export class PrefixAffinityRouter implements Router {
  /** Per target: chain hash → last use (epoch ms); a Map keeps insertion order for the LRU. */
  private readonly served = new Map<string, Map<number, number>>();
  private readonly options: PrefixAffinityOptions;

  constructor(
    private readonly now: () => number,
    options: Partial<PrefixAffinityOptions> = {},
  ) {
    this.options = { ...defaults, ...options };
  }

  choose<R extends ReplicaLoad>(loads: readonly R[], prefix?: readonly number[]): R | undefined {
    const least = pickReplica(loads);
    if (!least || !prefix || prefix.length < this.options.minBlocks) return least;
    const affine = this.longestMatch(loads, prefix);
    const fill = (r: R) => r.busy / r.slots;
    const chosen =
      affine && affine.busy < affine.slots && fill(affine) - fill(least) <= this.options.loadSlack
        ? affine
        : least;
    this.record(chosen.id, prefix);
    return chosen;
  }

  /** The ready target whose remembered chains cover the most blocks of `prefix` (≥ minBlocks). */
  private longestMatch<R extends ReplicaLoad>(loads: readonly R[], prefix: readonly number[]) {
    let best: R | undefined;
    let bestBlocks = 0;
    let bestAt = -1;
    for (const r of loads) {
      const chains = this.served.get(r.id);
      if (!r.ready || !chains) continue;
      for (let k = prefix.length - 1; k >= this.options.minBlocks - 1; k--) {
        const at = chains.get(prefix[k]!);
        if (at === undefined) continue;
        // The longer match wins; of equal ones, the most recent.
        if (k + 1 > bestBlocks || (k + 1 === bestBlocks && at > bestAt)) {
          best = r;
          bestBlocks = k + 1;
          bestAt = at;
        }
        break;
      }
    }
    return best;
  }

  private record(id: string, prefix: readonly number[]): void {
    let chains = this.served.get(id);
    if (!chains) this.served.set(id, (chains = new Map()));
    const at = this.now();
    for (const hash of prefix) {
      chains.delete(hash);
      chains.set(hash, at);
    }
    while (chains.size > this.options.chainsPerTarget) {
      chains.delete(chains.keys().next().value!);
    }
  }

  forget(id: string): void {
    this.served.delete(id);
  }
}

/** The router of a policy. */
export function makeRouter(policy: RoutingPolicy, now: () => number): Router {
  return policy === "prefix-affinity" ? new PrefixAffinityRouter(now) : leastOutstanding;
}

/** The text a remote backend is sent for an input, as the prefix is read from it. */
function inputText(input: PromptInput | undefined): string {
  if (!input) return "";
  if (input.kind === "text") return input.text;
  if (input.kind === "chat") return input.messages.map((m) => `${m.role}\n${m.content}\n`).join("");
  return "";
}

/** The block chain of a prepared prompt: its token ids, else the text of its input. */
export function promptPrefix(prompt: PreparedPrompt): number[] {
  if (prompt.tokens.length > 0) return prefixChain({ tokens: prompt.tokens });
  if (prompt.input?.kind === "tokens") return prefixChain({ tokens: prompt.input.tokens });
  return prefixChain({ text: inputText(prompt.input) });
}
