/**
 * Chat formatting for the llama-server backend: the same node-llama-cpp chat wrappers as the
 * node-llama-cpp backend (resolved the same way from the GGUF), rendered in the gateway process,
 * with the text pieces tokenized by the llama-server that serves the model.
 *
 * A chat wrapper's LlamaText is a list of plain text (never parsed for special tokens, so a
 * user cannot inject them), special-token text and builtin tokens (BOS, EOS, ...). node-llama-cpp
 * tokenizes it with a synchronous tokenizer; here the pieces are first collected with a
 * recording tokenizer, tokenized over HTTP, and the LlamaText is then tokenized again from
 * those results, so the token sequence follows node-llama-cpp's own assembly rules.
 */
import type { ChatHistoryItem, ChatWrapper, LlamaText, Token, Tokenizer } from "node-llama-cpp";
import type { ChatMessage, PreparedPrompt, ToolSpec } from "../types.js";
import { chatContextOf, toolCallFormatOf } from "../chat-history.js";

/** The tokenizer of the running server (POST /tokenize, never adding BOS). */
export type RemoteTokenize = (text: string, parseSpecial: boolean) => Promise<number[]>;

/** Builtin special tokens, from the GGUF. */
export interface BuiltinTokens {
  bos: number | null;
  eos: number | null;
  eot: number | null;
  sep: number | null;
  bosString: string | null;
}

type Trim = "trimLeadingSpace" | undefined;

const PIECE_CACHE_LIMIT = 1024;
const NEWLINE = "\n";

/** Tokenized pieces, shared by every chat of one replica (templates repeat their pieces). */
export class PieceTokenizer {
  private readonly cache = new Map<string, number[]>();

  constructor(
    private readonly remote: RemoteTokenize,
    private readonly builtin: BuiltinTokens,
  ) {}

  private static key(text: string, special: boolean, trim: Trim): string {
    return `${special ? "s" : "t"}${trim ? "1" : "0"}${text}`;
  }

  /** A cached result, or undefined when the piece still has to be tokenized. */
  lookup(text: string, special: boolean, trim: Trim): number[] | undefined {
    if (text === "") return [];
    return this.cache.get(PieceTokenizer.key(text, special, trim));
  }

  /** Tokenizes one piece over HTTP and caches it. */
  async resolve(text: string, special: boolean, trim: Trim): Promise<void> {
    const key = PieceTokenizer.key(text, special, trim);
    if (this.cache.has(key)) return;
    const tokens = trim ? await this.trimmed(text, special) : await this.remote(text, special);
    if (this.cache.size >= PIECE_CACHE_LIMIT) {
      this.cache.delete(this.cache.keys().next().value as string);
    }
    this.cache.set(key, tokens);
  }

  /**
   * node-llama-cpp's "trimLeadingSpace" (LlamaModel.tokenize): tokenize after a known prefix and
   * drop the prefix's tokens, so a SentencePiece tokenizer does not add its word-start space to a
   * piece in the middle of the prompt. Special text uses the BOS string as the prefix when there
   * is one; both fall back to a newline, and then to tokenizing the piece alone.
   */
  private async trimmed(text: string, special: boolean): Promise<number[]> {
    const { bos, bosString } = this.builtin;
    if (special && bos !== null && bosString !== null) {
      const tokens = await this.remote(bosString + text, true);
      const at = tokens.indexOf(bos);
      if (at >= 0 && at <= 1) return tokens.slice(at + 1);
    }
    if (text.startsWith(NEWLINE)) return this.remote(text, special);
    const prefix = await this.remote(NEWLINE, special);
    const tokens = await this.remote(NEWLINE + text, special);
    if (prefix.length > 0 && prefix.every((t, i) => tokens[i] === t)) {
      return tokens.slice(prefix.length);
    }
    return this.remote(text, special);
  }

  /**
   * A synchronous node-llama-cpp Tokenizer over the cache. Pieces not cached yet are recorded in
   * `missing` and stand in as one placeholder token, so the caller can resolve them and retry.
   */
  syncTokenizer(missing: [string, boolean, Trim][]): Tokenizer {
    const builtin = this.builtin;
    const tokenize = (text: string, special?: boolean | "builtin", trim?: Trim): Token[] => {
      if (special === "builtin") {
        const id =
          text === "BOS"
            ? builtin.bos
            : text === "EOS"
              ? builtin.eos
              : text === "EOT"
                ? builtin.eot
                : text === "SEP"
                  ? builtin.sep
                  : null;
        if (text === "NL")
          return (this.lookup(NEWLINE, false, "trimLeadingSpace") ?? [-1]).slice(-1) as Token[];
        return (id === null ? [] : [id]) as Token[];
      }
      const cached = this.lookup(text, special === true, trim);
      if (cached) return cached as Token[];
      missing.push([text, special === true, trim]);
      return [-1] as Token[];
    };
    return tokenize as unknown as Tokenizer;
  }

  /** Tokenizes LlamaTexts, resolving their pieces over HTTP until every one is cached. */
  async tokenize(texts: readonly LlamaText[]): Promise<number[][]> {
    // Each round caches at least one new piece; a chat prompt has a few dozen at most.
    for (let round = 0; round < 64; round++) {
      const missing: [string, boolean, Trim][] = [];
      const tokenizer = this.syncTokenizer(missing);
      const result = texts.map((t) => t.tokenize(tokenizer).map(Number));
      const nl = this.lookup(NEWLINE, false, "trimLeadingSpace");
      if (missing.length === 0 && nl !== undefined) return result;
      if (nl === undefined) missing.push([NEWLINE, false, "trimLeadingSpace"]);
      for (const [text, special, trim] of missing) await this.resolve(text, special, trim);
    }
    throw new Error("chat prompt tokenization did not settle");
  }
}

/** Chat messages as node-llama-cpp's chat history, ending with the model's turn to answer. */
export function chatHistoryOf(messages: readonly ChatMessage[]): ChatHistoryItem[] {
  return chatContextOf(messages, undefined, false).history;
}

/** The text a multi-token stop trigger ends with (special-token text written out). */
function triggerText(trigger: LlamaText): string {
  return trigger.values
    .map((v) => (typeof v === "string" ? v : "value" in v ? String(v.value) : ""))
    .join("");
}

/** Renders a chat into prompt tokens, stop strings and stop tokens. */
export async function renderChat(
  wrapper: ChatWrapper,
  pieces: PieceTokenizer,
  messages: readonly ChatMessage[],
  tools?: readonly ToolSpec[],
): Promise<PreparedPrompt> {
  const chat = chatContextOf(messages, tools, toolCallFormatOf(wrapper) !== null);
  const state = wrapper.generateContextState({
    chatHistory: chat.history,
    availableFunctions: chat.functions,
    documentFunctionParams: chat.functions ? true : undefined,
  });
  const triggers = state.stopGenerationTriggers;
  const [tokens, ...triggerTokens] = await pieces.tokenize([state.contextText, ...triggers]);
  const stopStrings: string[] = [];
  const stopTokens: number[] = [];
  triggers.forEach((trigger, i) => {
    if (trigger.values.every((v) => typeof v === "string")) {
      const text = trigger.values.join("");
      if (text) stopStrings.push(text);
    } else if (triggerTokens[i]!.length === 1) {
      stopTokens.push(triggerTokens[i]![0]!);
    } else {
      const text = triggerText(trigger);
      if (text) stopStrings.push(text);
    }
  });
  return { tokens: tokens!, stopStrings, stopTokens };
}

/**
 * The chat wrapper the node-llama-cpp backend would pick for this model (runtime.ts's
 * pickChatWrapper), resolved from the GGUF without loading llama.cpp in the gateway.
 * node-llama-cpp is imported only here, when a llama-server replica starts.
 */
export async function loadChatWrapper(
  modelPath: string,
  fileName: string,
  setting: string,
): Promise<{ wrapper: ChatWrapper; chatFormat: string; bosString: string | null }> {
  const nlc = await import("node-llama-cpp");
  const fileInfo = await nlc.readGgufFileInfo(modelPath, {
    readTensorInfo: false,
    sourceType: "filesystem",
    logWarnings: false,
  });
  const tokenizer = fileInfo.metadata.tokenizer?.ggml;
  const bosId = tokenizer?.bos_token_id;
  const tokens = tokenizer?.tokens;
  const bosString =
    typeof bosId === "number" && Array.isArray(tokens) ? String(tokens[bosId] ?? "") || null : null;
  let wrapper: ChatWrapper;
  if (setting !== "auto" && setting in nlc.chatWrappers) {
    const Wrapper = nlc.chatWrappers[
      setting as keyof typeof nlc.chatWrappers
    ] as unknown as new () => ChatWrapper;
    wrapper = new Wrapper();
  } else {
    wrapper =
      nlc.resolveChatWrapper({
        bosString,
        filename: fileName,
        fileInfo,
        warningLogs: false,
      }) ?? new nlc.chatWrappers.general();
  }
  const hasTemplate = typeof fileInfo.metadata.tokenizer?.chat_template === "string";
  return {
    wrapper,
    chatFormat: `${hasTemplate ? "gguf-template" : "fallback"}:${wrapper.wrapperName}`,
    bosString,
  };
}
