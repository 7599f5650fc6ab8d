/**
 * Inside an engine worker: one model, one LlamaContext whose sequences are the slots, the chat
 * format, tokenization and embeddings. node-llama-cpp batches the active sequences of the
 * context into one decode step, so N slots decode together.
 */
import {
  getLlama,
  resolveChatWrapper,
  chatWrappers,
  LlamaLogLevel,
  type ChatWrapper,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaEmbeddingContext,
  type LlamaModel,
  type LlamaText,
  type Token,
} from "node-llama-cpp";
import type {
  ChatMessage,
  ModelInfo,
  PreparedPrompt,
  PromptInput,
  ReplicaSpec,
  ToolSpec,
} from "../types.js";
import { EngineJobError } from "../errors.js";
import { chatContextOf, toolCallFormatOf } from "../chat-history.js";

export type RuntimeLog = (level: "debug" | "info" | "warn" | "error", message: string) => void;

/** node-llama-cpp's gpu option from the config's setting. */
function gpuOption(setting: string): "auto" | false | "cuda" | "vulkan" | "metal" {
  if (setting === "cpu") return false;
  if (setting === "cuda" || setting === "vulkan" || setting === "metal") return setting;
  return "auto";
}

function logLevelName(level: LlamaLogLevel): "debug" | "info" | "warn" | "error" {
  switch (level) {
    case LlamaLogLevel.error:
    case LlamaLogLevel.fatal:
      return "error";
    case LlamaLogLevel.warn:
      return "warn";
    case LlamaLogLevel.info:
      return "info";
    default:
      return "debug";
  }
}

export class LlamaRuntime {
  private embeddingContext: Promise<LlamaEmbeddingContext> | undefined;
  private embedQueue: Promise<unknown> = Promise.resolve();
  private readonly free: LlamaContextSequence[];
  private pieceContext: Token[] | undefined;

  private constructor(
    readonly llama: Llama,
    readonly model: LlamaModel,
    readonly context: LlamaContext,
    readonly chatWrapper: ChatWrapper,
    readonly info: ModelInfo,
    private readonly spec: ReplicaSpec,
  ) {
    this.free = [];
    for (let i = 0; i < spec.slots; i++) this.free.push(context.getSequence());
  }

  /** Loads the model and opens the context with one sequence per slot. */
  static async load(spec: ReplicaSpec, log: RuntimeLog, startedAt: number): Promise<LlamaRuntime> {
    const llama = await getLlama({
      build: "never",
      gpu: gpuOption(spec.gpu),
      maxThreads: spec.threads,
      logLevel: LlamaLogLevel.warn,
      logger: (level, message) => {
        const text = message.trim();
        if (text) log(logLevelName(level), text);
      },
    });
    const model = await llama.loadModel({
      modelPath: spec.modelPath,
      // mmap lets replicas of one model share the pages of its weights.
      useMmap: true,
      gpuLayers: llama.gpu === false ? 0 : "auto",
    });
    const contextSize = Math.min(spec.contextSize, model.trainContextSize);
    const context = await model.createContext({
      sequences: spec.slots,
      contextSize,
      batchSize: Math.min(spec.batchSize, contextSize),
      threads: spec.threads,
    });
    const chatWrapper = pickChatWrapper(model, spec.chatWrapper);
    const hasTemplate = typeof model.fileInfo.metadata.tokenizer?.chat_template === "string";
    const info: ModelInfo = {
      contextSize: context.contextSize,
      trainContextSize: model.trainContextSize,
      slots: spec.slots,
      vocabularySize: vocabularySize(model),
      embeddingSize: model.embeddingVectorSize,
      architecture: String(model.fileInfo.metadata.general?.architecture ?? "unknown"),
      chatFormat: `${hasTemplate ? "gguf-template" : "fallback"}:${chatWrapper.wrapperName}`,
      bosToken: model.tokens.bos,
      eosToken: model.tokens.eos,
      loadMs: Date.now() - startedAt,
      gpu: llama.gpu === false ? "cpu" : llama.gpu,
      threads: spec.threads,
      features: {
        embeddings: true,
        promptLogprobs: true,
        toolCallFormat: toolCallFormatOf(chatWrapper),
      },
    };
    return new LlamaRuntime(llama, model, context, chatWrapper, info, spec);
  }

  get busySlots(): number {
    return this.spec.slots - this.free.length;
  }

  /**
   * Takes the free sequence that already holds the longest prefix of the prompt, so a
   * conversation that comes back reuses its KV cache instead of evaluating it again.
   */
  acquireSequence(prompt: readonly number[]): LlamaContextSequence | undefined {
    if (this.free.length === 0) return undefined;
    let best = 0;
    let bestShared = -1;
    for (let i = 0; i < this.free.length; i++) {
      const shared = this.free[i]!.compareContextTokens(prompt as Token[]).firstDifferentIndex;
      if (shared > bestShared) {
        best = i;
        bestShared = shared;
      }
    }
    return this.free.splice(best, 1)[0];
  }

  releaseSequence(sequence: LlamaContextSequence): void {
    this.free.push(sequence);
  }

  /** Turns text, tokens or chat messages into prompt tokens. */
  prepare(input: PromptInput): PreparedPrompt {
    switch (input.kind) {
      case "tokens":
        return { tokens: input.tokens, stopStrings: [], stopTokens: [] };
      case "text": {
        const tokens = this.model.tokenize(input.text);
        const bos = this.model.tokens.bos;
        if (input.addSpecial && bos !== null && this.model.tokens.shouldPrependBosToken) {
          if (tokens[0] !== bos) tokens.unshift(bos);
        }
        return { tokens: tokens.map(Number), stopStrings: [], stopTokens: [] };
      }
      case "chat":
        return this.prepareChat(input.messages, input.tools);
    }
  }

  private prepareChat(messages: ChatMessage[], tools?: ToolSpec[]): PreparedPrompt {
    const chat = chatContextOf(messages, tools, this.info.features.toolCallFormat !== null);
    const state = this.chatWrapper.generateContextState({
      chatHistory: chat.history,
      availableFunctions: chat.functions,
      documentFunctionParams: chat.functions ? true : undefined,
    });
    const tokens = state.contextText.tokenize(this.model.tokenizer).map(Number);
    const stopStrings: string[] = [];
    const stopTokens: number[] = [];
    for (const trigger of state.stopGenerationTriggers) {
      splitTrigger(trigger, this.model, stopStrings, stopTokens);
    }
    return { tokens, stopStrings, stopTokens };
  }

  /** Text of tokens, special tokens rendered as nothing (the generation path's decoder). */
  detokenize(tokens: readonly number[]): string {
    return this.model.detokenize(tokens as Token[], false);
  }

  /**
   * One token's own text, special tokens written out, as log-probability entries name it. It is
   * decoded after an ordinary token, so a SentencePiece word keeps its leading space (alone,
   * llama.cpp drops it as the start of a text).
   */
  tokenPiece(token: number, special = true): string {
    this.pieceContext ??= this.model.tokenize("a");
    return this.model.detokenize([token as Token], special, this.pieceContext);
  }

  /** A token's UTF-8 bytes: a byte-fallback token (`<0xE2>`) is its one byte, not U+FFFD. */
  tokenBytes(token: number, text: string): number[] {
    const raw = this.model.fileInfo.metadata.tokenizer?.ggml?.tokens?.[token];
    const byte = typeof raw === "string" ? /^<0x([0-9A-Fa-f]{2})>$/.exec(raw) : null;
    return byte ? [parseInt(byte[1]!, 16)] : [...Buffer.from(text, "utf8")];
  }

  /**
   * Text of a whole token list for /detokenize. SentencePiece ("llama") vocabularies add a space
   * before the first word when they tokenize; like Hugging Face's decode, drop it again so that
   * detokenize(tokenize(text)) gives back the text.
   */
  decode(tokens: readonly number[]): string {
    const text = this.detokenize(tokens);
    const spm = this.model.fileInfo.metadata.tokenizer?.ggml?.model === "llama";
    return spm && text.startsWith(" ") ? text.slice(1) : text;
  }

  /** Embeds each input; requests are serialized on one embedding context. */
  async embed(inputs: PromptInput[]): Promise<{ embeddings: number[][]; promptTokens: number }> {
    const run = async () => {
      this.embeddingContext ??= this.model.createEmbeddingContext({
        threads: this.spec.threads,
        contextSize: Math.min(this.spec.contextSize, this.model.trainContextSize),
      });
      const context = await this.embeddingContext;
      const embeddings: number[][] = [];
      let promptTokens = 0;
      const room = Math.min(this.spec.contextSize, this.model.trainContextSize);
      for (const input of inputs) {
        const tokens = this.prepare(input).tokens;
        // llama_decode fails on these: answer them as the client's error, not the engine's.
        if (tokens.length > room) {
          throw new EngineJobError(
            "context_length_exceeded",
            `An input has ${tokens.length} tokens; the embedding context holds ${room}.`,
          );
        }
        const vocabulary = vocabularySize(this.model);
        const bad = tokens.find((t) => t < 0 || (vocabulary > 0 && t >= vocabulary));
        if (bad !== undefined) {
          throw new EngineJobError("invalid_request", `Token ${bad} is not in the vocabulary.`);
        }
        promptTokens += tokens.length;
        const embedding = await context.getEmbeddingFor(tokens as Token[]);
        embeddings.push([...embedding.vector]);
      }
      return { embeddings, promptTokens };
    };
    const result = this.embedQueue.then(run, run);
    this.embedQueue = result.catch(() => undefined);
    return result;
  }

  async close(): Promise<void> {
    await this.context.dispose();
    if (this.embeddingContext) await (await this.embeddingContext).dispose();
    await this.model.dispose();
    await this.llama.dispose();
  }
}

function vocabularySize(model: LlamaModel): number {
  const tokens = model.fileInfo.metadata.tokenizer?.ggml?.tokens;
  return Array.isArray(tokens) ? tokens.length : 0;
}

/**
 * The chat format: "auto" takes the GGUF's own template through node-llama-cpp's resolver
 * (a matching specialized wrapper, or the Jinja template itself). A model without a template
 * gets node-llama-cpp's fallback for its architecture and name (Llama 2 chat for a plain llama);
 * docs/api.md documents this. A named wrapper overrides both.
 */
function pickChatWrapper(model: LlamaModel, setting: string): ChatWrapper {
  if (setting !== "auto" && setting in chatWrappers) {
    const Wrapper = chatWrappers[
      setting as keyof typeof chatWrappers
    ] as unknown as new () => ChatWrapper;
    return new Wrapper();
  }
  return resolveChatWrapper(model) ?? new chatWrappers.general();
}

/** A chat format's stop trigger becomes a stop token (special) or a stop string (plain text). */
function splitTrigger(
  trigger: LlamaText,
  model: LlamaModel,
  stopStrings: string[],
  stopTokens: number[],
): void {
  const values = trigger.values;
  if (values.every((v) => typeof v === "string")) {
    const text = values.join("");
    if (text) stopStrings.push(text);
    return;
  }
  const tokens = trigger.tokenize(model.tokenizer);
  if (tokens.length === 1) stopTokens.push(Number(tokens[0]));
  else stopStrings.push(model.detokenize(tokens, true));
}
