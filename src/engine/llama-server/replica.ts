/**
 * One engine replica served by a supervised `llama-server` process (llama.cpp's own server, built
 * from the source node-llama-cpp ships). The process listens on a Unix socket in a private
 * directory and checks a random per-process API key, so no other local user reaches it; every
 * protection stays in the gateway. Heartbeats are /health calls, generation is a streamed
 * /completion with the prompt as token ids, and the process's death is reported to every job it
 * held (as ReplicaLostError), as the node-llama-cpp backend does.
 */
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { ClientRequest } from "node:http";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type { ChatWrapper } from "node-llama-cpp";
import { GgufFile } from "../../models/gguf/index.js";
import type { Logger } from "../../observability/index.js";
import { awaitStop, ChildExit, drainJobs } from "../child-exit.js";
import { EngineJobError } from "../errors.js";
import {
  ReplicaLostError,
  type EmbeddingResult,
  type EngineReplica,
  type GenerationJob,
  type GenerationListener,
  type ModelInfo,
  type PreparedPrompt,
  type PromptInput,
  type ReplicaSpec,
  type ReplicaState,
  type ReplicaStats,
} from "../types.js";
import { apiKeyFrom, buildServerArgs } from "./args.js";
import { loadChatWrapper, PieceTokenizer, renderChat } from "./chat.js";
import { toolCallFormatOf } from "../chat-history.js";
import { ServerClient, ServerHttpError } from "./client.js";
import { jobErrorFrom, jsonGrammar, readCompletion } from "./completion.js";
import { forwardOutput, rssOf, spawnServer } from "./process.js";
import { completionBody } from "./request.js";
import { CompletionStream, type CompletionChunk } from "./stream.js";
import { builtinTokensOf, controlTokensOf } from "./vocabulary.js";

export { outputLevel } from "./process.js";
export { controlTokensOf } from "./vocabulary.js";

export interface LlamaServerReplicaOptions {
  /** The llama-server executable. */
  binary: string;
  /** engine.promptCacheBytes: the limit of llama-server's host prompt cache. */
  promptCacheBytes: number;
  heartbeatIntervalMs: number;
  loadTimeoutMs: number;
  testHooks: boolean;
  logger: Logger;
}

interface RunningJob {
  job: GenerationJob;
  listener: GenerationListener;
  request: ClientRequest | undefined;
  stream: CompletionStream;
}

/** Calls other than generation (tokenize, props, detokenize) get this long. */
const CALL_TIMEOUT_MS = 30_000;
/** How long a broken request waits for the process's exit before it counts as a job error. */
const EXIT_GRACE_MS = 250;
/** llama-server's HTTP threads beyond one per slot (its default: --parallel + 4). */
const HTTP_THREADS_EXTRA = 4;

export class LlamaServerReplica implements EngineReplica {
  readonly id: string;
  readonly modelName: string;
  readonly slots: number;
  private child: ChildProcess | undefined;
  private client: ServerClient | undefined;
  private socketDir: string | undefined;
  private currentState: ReplicaState = "starting";
  private modelInfo: ModelInfo | undefined;
  private readonly jobs = new Map<string, RunningJob>();
  private heartbeatAt = Date.now();
  private progressAt = Date.now();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private heartbeatInFlight = false;
  private generatedTokens = 0;
  private rssBytes = 0;
  private readonly exit = new ChildExit();
  private readonly log: Logger;
  private readonly outputTail: string[] = [];
  private chatWrapper: ChatWrapper | undefined;
  private pieces: PieceTokenizer | undefined;
  private spm = false;
  private controlTokens = new Set<number>();

  constructor(
    private readonly spec: ReplicaSpec,
    private readonly options: LlamaServerReplicaOptions,
  ) {
    this.id = spec.id;
    this.modelName = spec.modelName;
    this.slots = spec.slots;
    this.log = options.logger.child({
      replica: spec.id,
      model: spec.modelName,
      engine: "llama-server",
    });
  }

  state(): ReplicaState {
    return this.currentState;
  }

  info(): ModelInfo | undefined {
    return this.modelInfo;
  }

  async start(): Promise<ModelInfo> {
    const startedAt = Date.now();
    const gguf = await GgufFile.open(this.spec.modelPath);
    const arch = gguf.architecture;
    const trainContextSize = gguf.meta.number(`${arch}.context_length`) ?? this.spec.contextSize;
    const contextSize = Math.min(this.spec.contextSize, trainContextSize);
    const builtin = builtinTokensOf(gguf);
    this.spm = gguf.meta.string("tokenizer.ggml.model") === "llama";
    this.controlTokens = controlTokensOf(gguf.meta.array("tokenizer.ggml.token_type"));
    const chat = await loadChatWrapper(
      this.spec.modelPath,
      basename(this.spec.modelPath),
      this.spec.chatWrapper,
    );
    this.chatWrapper = chat.wrapper;

    this.socketDir = mkdtempSync(join(tmpdir(), "bulwark-engine-"));
    const socketPath = join(this.socketDir, "llama-server.sock");
    const apiKey = apiKeyFrom(randomBytes(32));
    const apiKeyFile = join(this.socketDir, "api-key");
    writeFileSync(apiKeyFile, `${apiKey}\n`, { mode: 0o600 });
    const args = buildServerArgs(
      { ...this.spec, contextSize },
      { socketPath, apiKeyFile, promptCacheBytes: this.options.promptCacheBytes },
    );
    const client = new ServerClient(socketPath, apiKey, this.spec.slots + HTTP_THREADS_EXTRA);
    this.client = client;
    this.pieces = new PieceTokenizer(
      (text, parseSpecial) => this.tokenize(text, false, parseSpecial),
      { ...builtin, bosString: chat.bosString },
    );
    const child = spawnServer(this.options.binary, args);
    this.child = child;
    forwardOutput(child, this.outputTail, this.log);
    const exitedEarly = new Promise<never>((_, reject) => {
      child.once("exit", (code, signal) => {
        const reason = signal ? `killed by ${signal}` : `exited with code ${code}`;
        const tail = this.outputTail.slice(-5).join(" | ");
        reject(new Error(`llama-server ${reason} while loading${tail ? `: ${tail}` : ""}`));
        this.onChildExit(reason);
      });
    });
    exitedEarly.catch(() => undefined);
    child.once("error", (err) => {
      this.log.error({ err: err.message }, "llama-server process error");
      this.onChildExit(`could not start: ${err.message}`);
    });

    try {
      await Promise.race([this.waitHealthy(startedAt), exitedEarly]);
      const props = await client.json<{
        default_generation_settings?: { n_ctx?: number };
        total_slots?: number;
      }>("GET", "/props", undefined, CALL_TIMEOUT_MS);
      this.modelInfo = {
        contextSize: props.default_generation_settings?.n_ctx ?? contextSize,
        trainContextSize,
        slots: props.total_slots ?? this.spec.slots,
        vocabularySize: gguf.meta.array("tokenizer.ggml.tokens")?.length ?? 0,
        embeddingSize: gguf.meta.number(`${arch}.embedding_length`) ?? 0,
        architecture: arch,
        chatFormat: chat.chatFormat,
        bosToken: builtin.bos,
        eosToken: builtin.eos,
        loadMs: Date.now() - startedAt,
        gpu: this.spec.gpu === "cpu" ? "cpu" : "llama-server",
        threads: this.spec.threads,
        features: {
          embeddings: false,
          // llama-server reports no log-probabilities for prompt tokens.
          promptLogprobs: false,
          toolCallFormat: toolCallFormatOf(chat.wrapper),
        },
      };
    } catch (err) {
      this.kill("load failed");
      throw err;
    }
    this.currentState = "ready";
    this.heartbeatAt = this.progressAt = Date.now();
    this.rssBytes = rssOf(child.pid) ?? 0;
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.options.heartbeatIntervalMs);
    this.heartbeatTimer.unref();
    return this.modelInfo;
  }

  /** Polls /health (503 while the model loads) until it answers 200 or the load time is up. */
  private async waitHealthy(startedAt: number): Promise<void> {
    const client = this.client!;
    for (;;) {
      if (this.exit.reason !== undefined) throw new Error(`llama-server ${this.exit.reason}`);
      if (Date.now() - startedAt > this.options.loadTimeoutMs) {
        throw new Error(`model load took longer than ${this.options.loadTimeoutMs} ms`);
      }
      try {
        await client.json("GET", "/health", undefined, 2_000);
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 25));
      }
    }
  }

  private heartbeat(): void {
    const client = this.client;
    if (!client || this.heartbeatInFlight || this.exit.reason !== undefined) return;
    this.heartbeatInFlight = true;
    this.rssBytes = rssOf(this.child?.pid) ?? this.rssBytes;
    client
      .json("GET", "/health", undefined, Math.max(1_000, this.options.heartbeatIntervalMs * 2))
      .then(
        () => {
          this.heartbeatAt = Date.now();
        },
        () => undefined,
      )
      .finally(() => {
        this.heartbeatInFlight = false;
      });
  }

  private onChildExit(reason: string): void {
    if (!this.exit.record(reason)) return;
    clearInterval(this.heartbeatTimer);
    const expected = this.currentState === "stopped";
    this.currentState = expected ? "stopped" : "dead";
    if (!expected) {
      this.log.warn({ reason, output: this.outputTail.slice(-5) }, "llama-server exited");
    }
    const lost = new ReplicaLostError(`engine worker ${this.id} ${reason}`, this.id);
    const running = [...this.jobs.values()];
    this.jobs.clear();
    for (const job of running) {
      job.request?.destroy();
      job.listener.onError(lost);
    }
    this.client?.close();
    if (this.socketDir) rmSync(this.socketDir, { recursive: true, force: true });
    this.exit.announce();
  }

  private requireClient(): ServerClient {
    if (!this.client || this.exit.reason !== undefined) {
      throw new ReplicaLostError(`engine worker ${this.id} is not running`, this.id);
    }
    return this.client;
  }

  /** A call failed: the process's death explains it (ReplicaLostError), or it is a job error. */
  private async callError(err: unknown): Promise<Error> {
    if (err instanceof ServerHttpError) return jobErrorFrom(err);
    if (this.exit.reason === undefined) {
      await Promise.race([this.exit.exited, new Promise((r) => setTimeout(r, EXIT_GRACE_MS))]);
    }
    if (this.exit.reason !== undefined) {
      return new ReplicaLostError(`engine worker ${this.id} ${this.exit.reason}`, this.id);
    }
    return new EngineJobError("internal_error", `llama-server: ${(err as Error).message}`);
  }

  private async tokenize(
    text: string,
    addSpecial: boolean,
    parseSpecial: boolean,
  ): Promise<number[]> {
    try {
      const res = await this.requireClient().json<{ tokens: number[] }>(
        "POST",
        "/tokenize",
        { content: text, add_special: addSpecial, parse_special: parseSpecial },
        CALL_TIMEOUT_MS,
      );
      return res.tokens;
    } catch (err) {
      throw await this.callError(err);
    }
  }

  async prepare(input: PromptInput): Promise<PreparedPrompt> {
    switch (input.kind) {
      case "tokens":
        return { tokens: input.tokens, stopStrings: [], stopTokens: [] };
      case "text":
        // Plain text is never parsed for special tokens, as in the node-llama-cpp backend.
        return {
          tokens: await this.tokenize(input.text, input.addSpecial, false),
          stopStrings: [],
          stopTokens: [],
        };
      case "chat":
        this.requireClient();
        return renderChat(this.chatWrapper!, this.pieces!, input.messages, input.tools);
    }
  }

  generate(job: GenerationJob, listener: GenerationListener): void {
    let client: ServerClient;
    try {
      client = this.requireClient();
    } catch (err) {
      listener.onError(err as Error);
      return;
    }
    const resumed = job.resume?.tokens.length ?? 0;
    if (job.maxTokens <= resumed) {
      // max_tokens 0 (echo without generation): llama-server would predict at least one token.
      listener.onEvent({
        type: "done",
        finishReason: "length",
        promptTokens: job.prompt.tokens.length,
        completionTokens: resumed,
        timings: { cachedTokens: 0, promptMs: 0, generationMs: 0 },
      });
      return;
    }
    if (this.jobs.size === 0) this.progressAt = Date.now();
    const running: RunningJob = {
      job,
      listener,
      request: undefined,
      stream: new CompletionStream({
        promptTokens: job.prompt.tokens.length,
        stopTokens: new Set(job.prompt.stopTokens),
        stopStrings: [...job.stop, ...job.prompt.stopStrings],
        resume: job.resume,
        logprobs: job.logprobs,
      }),
    };
    this.jobs.set(job.id, running);
    this.testHook(job);
    running.request = client.stream("/completion", completionBody(job, jsonGrammar()), {
      onResponse: (res) =>
        readCompletion(res, {
          active: () => this.jobs.has(job.id),
          onChunk: (chunk) => this.onChunk(running, chunk),
          end: (err) => this.endJob(running, err),
          fail: (err) => void this.failJob(running, err),
        }),
      onError: (err) => void this.failJob(running, err),
    });
  }

  private onChunk(running: RunningJob, chunk: CompletionChunk): void {
    const outcome = running.stream.push(chunk);
    if (outcome.kind === "error") {
      const err = new ServerHttpError(outcome.status, outcome.message, outcome.type);
      this.endJob(running, jobErrorFrom(err));
      return;
    }
    this.heartbeatAt = this.progressAt = Date.now();
    for (const event of outcome.events) {
      if (event.type === "text") {
        this.generatedTokens += event.tokens;
        running.listener.onEvent(event);
      } else {
        this.jobs.delete(running.job.id);
        // A stop token or string ended the job before llama-server did: close the request,
        // which frees the slot.
        if (!chunk.stop) running.request?.destroy();
        running.listener.onEvent(event);
      }
    }
  }

  /**
   * Test-only hooks: the process is killed (crash) or stopped (hang: it answers nothing, not even
   * /health) as the job is sent. Not at the first token, as in the node-llama-cpp worker: a small
   * model's whole answer can be in the socket before a signal lands.
   */
  private testHook(job: GenerationJob): void {
    if (!this.options.testHooks || !job.testHook) return;
    this.child?.kill(job.testHook === "crash" ? "SIGKILL" : "SIGSTOP");
  }

  private async failJob(running: RunningJob, err: Error): Promise<void> {
    if (!this.jobs.has(running.job.id)) return;
    const error = await this.callError(err);
    // The process's exit may have ended the job meanwhile (with ReplicaLostError).
    if (this.jobs.get(running.job.id) === running) this.endJob(running, error);
  }

  private endJob(running: RunningJob, err: Error): void {
    if (this.jobs.get(running.job.id) !== running) return;
    this.jobs.delete(running.job.id);
    running.request?.destroy();
    running.listener.onError(err);
  }

  abort(jobId: string): void {
    const running = this.jobs.get(jobId);
    if (!running) return;
    this.jobs.delete(jobId);
    // Closing the connection makes llama-server cancel the task and free the slot.
    running.request?.destroy();
    running.listener.onEvent({
      type: "done",
      finishReason: "abort",
      promptTokens: running.job.prompt.tokens.length,
      completionTokens: running.stream.tokens,
      timings: { cachedTokens: 0, promptMs: 0, generationMs: 0 },
    });
  }

  async embed(_inputs: PromptInput[]): Promise<EmbeddingResult> {
    throw new EngineJobError(
      "unsupported_parameter",
      'Embeddings are not served by engine.backend "llama-server"; use the node-llama-cpp backend ' +
        "for embedding models.",
    );
  }

  async detokenize(tokens: number[]): Promise<string> {
    try {
      const res = await this.requireClient().json<{ content: string }>(
        "POST",
        "/detokenize",
        // llama-server writes control tokens (BOS, EOS) out; the node-llama-cpp backend's
        // decoder renders them as nothing, so they are left out here.
        { tokens: tokens.filter((t) => !this.controlTokens.has(t)) },
        CALL_TIMEOUT_MS,
      );
      // As the node-llama-cpp backend: drop the word-start space a SentencePiece vocabulary adds.
      return this.spm && res.content.startsWith(" ") ? res.content.slice(1) : res.content;
    } catch (err) {
      throw await this.callError(err);
    }
  }

  stats(): ReplicaStats {
    return {
      busySlots: this.jobs.size,
      generatedTokens: this.generatedTokens,
      rssBytes: this.rssBytes,
      pid: this.child?.pid ?? null,
    };
  }

  lastHeartbeatAt(): number {
    return this.heartbeatAt;
  }

  lastProgressAt(): number {
    return this.progressAt;
  }

  activeJobs(): number {
    return this.jobs.size;
  }

  onExit(callback: (reason: string) => void): void {
    this.exit.onExit(callback);
  }

  async stop(deadlineMs: number): Promise<void> {
    if (this.exit.reason !== undefined || !this.child) return;
    this.currentState = "draining";
    await drainJobs(this.jobs, deadlineMs);
    this.currentState = "stopped";
    this.child.kill("SIGTERM");
    await awaitStop(this.child, this.exit);
  }

  kill(reason: string): void {
    if (this.exit.reason !== undefined || !this.child) return;
    this.log.warn({ reason }, "killing llama-server");
    this.child.kill("SIGKILL");
  }
}
