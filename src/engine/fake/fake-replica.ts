/**
 * An in-process engine replica with no model: a code-point tokenizer and a fixed text it
 * "generates" at a configurable pace. It honours slots, max_tokens, stop strings, abort and
 * test controls (delay, failure rate, crash), so the gateway, scheduler, supervisor, metrics and
 * the benchmark tool can be tested and measured without llama.cpp. It is selected with
 * engine.kind = "fake" and never serves real traffic.
 */
import { createHash } from "node:crypto";
import { StopMatcher } from "../text/index.js";
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
  type TokenLogprob,
} from "../types.js";

/** Knobs tests and benchmarks turn while a fake replica runs. */
export interface FakeEngineControls {
  /** Delay before each token, in ms (0: next event-loop turn). */
  tokenDelayMs: number;
  /** Delay before the first token, in ms. */
  firstTokenDelayMs: number;
  /** Share of jobs that end with an engine error, 0..1. */
  failureRate: number;
  /** The RSS each replica reports, in bytes (memory guard tests); default 0. */
  rssBytes?: number;
}

export const FAKE_TEXT =
  "Bulwark is serving this text from its fake engine, which stands in for a model in tests " +
  "and benchmarks of the gateway. ";

const EMBEDDING_SIZE = 8;
const BOS = 1;
/** The fake's generated "tokens" are words of FAKE_TEXT: word n has id WORD_BASE + n. */
const WORD_BASE = 0x200000;

interface FakeJob {
  listener: GenerationListener;
  aborted: boolean;
  /** Generating began: a crash from now on is reported as one while decoding. */
  started: boolean;
}

/** Code-point tokenizer: one token per Unicode scalar value, plus a BOS token. */
export function fakeTokenize(text: string): number[] {
  return Array.from(text, (c) => c.codePointAt(0)! + 2);
}

export function fakeDetokenize(tokens: readonly number[]): string {
  return tokens
    .filter((t) => t > 2)
    .map((t) => String.fromCodePoint(t - 2))
    .join("");
}

/**
 * A fixed log-probability entry: the token itself is the most likely (p = 1/2), and its
 * alternatives follow with halving probabilities, so every list is sorted and sums below 1.
 */
export function fakeLogprob(token: string, top: number): TokenLogprob {
  const alt = (text: string, logprob: number) => ({
    token: text,
    bytes: [...Buffer.from(text, "utf8")],
    logprob,
  });
  const alternatives = [alt(token, Math.log(0.5))];
  for (let i = 1; i < top; i++) alternatives.push(alt(`${token}~${i}`, Math.log(0.5 ** (i + 1))));
  return { ...alt(token, Math.log(0.5)), top: alternatives.slice(0, top) };
}

export class FakeReplica implements EngineReplica {
  readonly id: string;
  readonly modelName: string;
  readonly slots: number;
  private current: ReplicaState = "starting";
  private readonly jobs = new Map<string, FakeJob>();
  /** Killed from outside, its exit not yet seen: still "ready", but every call fails. */
  private severed = false;
  private exitCallbacks: ((reason: string) => void)[] = [];
  private progressAt = Date.now();
  private generated = 0;
  private readonly words = FAKE_TEXT.split(/(?<= )/);
  private modelInfo: ModelInfo | undefined;
  /** One per slot, like llama.cpp's sequences: the prompt its KV cache holds, and whether a
   * job is using it. A job takes the free one sharing the longest prefix with its prompt. */
  private readonly sequences: { tokens: readonly number[]; busy: boolean }[];

  constructor(
    private readonly spec: ReplicaSpec,
    private readonly controls: FakeEngineControls,
  ) {
    this.id = spec.id;
    this.modelName = spec.modelName;
    this.slots = spec.slots;
    this.sequences = Array.from({ length: spec.slots }, () => ({ tokens: [], busy: false }));
  }

  /** Takes the free sequence holding the longest prefix of `prompt`; returns it and that
   * prefix's length (at most all but one token: one must be evaluated to sample from). */
  private acquireSequence(prompt: readonly number[]) {
    let best: (typeof this.sequences)[number] | undefined;
    let bestShared = -1;
    for (const s of this.sequences) {
      if (s.busy) continue;
      let shared = 0;
      while (shared < s.tokens.length && s.tokens[shared] === prompt[shared]) shared++;
      if (shared > bestShared) [best, bestShared] = [s, shared];
    }
    const sequence = best ?? { tokens: [], busy: false };
    sequence.busy = true;
    sequence.tokens = prompt;
    return { sequence, cached: Math.max(0, Math.min(bestShared, prompt.length - 1)) };
  }

  state(): ReplicaState {
    return this.current;
  }

  info(): ModelInfo | undefined {
    return this.modelInfo;
  }

  async start(): Promise<ModelInfo> {
    this.modelInfo = {
      contextSize: this.spec.contextSize,
      trainContextSize: this.spec.contextSize,
      slots: this.slots,
      vocabularySize: 0x110000 + 2,
      embeddingSize: EMBEDDING_SIZE,
      architecture: "fake",
      chatFormat: "fake",
      bosToken: BOS,
      eosToken: 2,
      loadMs: 0,
      gpu: "cpu",
      threads: this.spec.threads,
      features: { embeddings: true, promptLogprobs: true, toolCallFormat: null },
    };
    this.current = "ready";
    return this.modelInfo;
  }

  async prepare(input: PromptInput): Promise<PreparedPrompt> {
    this.checkSevered();
    switch (input.kind) {
      case "tokens":
        return { tokens: input.tokens, stopStrings: [], stopTokens: [] };
      case "text":
        return {
          tokens: [...(input.addSpecial ? [BOS] : []), ...fakeTokenize(input.text)],
          stopStrings: [],
          stopTokens: [],
        };
      case "chat": {
        const text = input.messages.map((m) => `${m.role}: ${m.content}\n`).join("");
        return {
          tokens: [BOS, ...fakeTokenize(`${text}assistant:`)],
          stopStrings: [],
          stopTokens: [],
        };
      }
    }
  }

  generate(job: GenerationJob, listener: GenerationListener): void {
    if (this.current !== "ready" || this.severed) {
      listener.onError(
        new ReplicaLostError(`fake replica ${this.id} is not running`, this.id, false),
      );
      return;
    }
    if (this.jobs.size === 0) this.progressAt = Date.now();
    const entry: FakeJob = { listener, aborted: false, started: false };
    this.jobs.set(job.id, entry);
    void this.run(job, entry);
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => (ms > 0 ? setTimeout(resolve, ms) : setImmediate(resolve)));
  }

  private async run(job: GenerationJob, entry: FakeJob): Promise<void> {
    const { sequence, cached } = this.acquireSequence(job.prompt.tokens);
    try {
      await this.runOn(job, entry, cached);
    } finally {
      sequence.busy = false;
    }
  }

  private async runOn(job: GenerationJob, entry: FakeJob, cachedTokens: number): Promise<void> {
    const started = performance.now();
    entry.started = true;
    const stopper = new StopMatcher(job.stop);
    const fail = Math.random() < this.controls.failureRate;
    // A resumed job goes on with the word after the ones already sent, as one run would.
    let count = job.resume?.tokens.length ?? 0;
    if (job.resume?.pending) stopper.push(job.resume.pending);
    let held: number[] = [];
    let heldLogprobs: TokenLogprob[] = [];
    if (job.promptLogprobs) {
      const [first = 0, ...rest] = job.prompt.tokens;
      entry.listener.onEvent({
        type: "prompt",
        first: fakeDetokenize([first]),
        logprobs: rest.map((t) => fakeLogprob(fakeDetokenize([t]), job.logprobs ?? 0)),
      });
    }
    let finishReason: "stop" | "length" | "abort" = "length";
    await this.wait(this.controls.firstTokenDelayMs);
    while (count < job.maxTokens) {
      if (this.jobs.get(job.id) !== entry) return; // lost with the replica
      if (entry.aborted) {
        finishReason = "abort";
        break;
      }
      if (fail && count === 1 && !job.resume) {
        this.jobs.delete(job.id);
        entry.listener.onError(new EngineJobError("internal_error", "fake engine failure"));
        return;
      }
      if (job.testHook === "crash") {
        this.crash("crashed on a test-hook request");
        return;
      }
      if (job.testHook === "hang" && count === 1) await new Promise<never>(() => undefined);
      const word = this.words[count % this.words.length]!;
      count++;
      this.generated++;
      this.progressAt = Date.now();
      held.push(WORD_BASE + count - 1);
      if (job.logprobs !== undefined) heldLogprobs.push(fakeLogprob(word, job.logprobs));
      const result = stopper.push(word);
      if (result.text) {
        entry.listener.onEvent({
          type: "text",
          text: result.text,
          tokens: held.length,
          ids: held,
          pending: stopper.held,
          ...(job.logprobs !== undefined ? { logprobs: heldLogprobs } : {}),
        });
        held = [];
        heldLogprobs = [];
      }
      if (result.stopped) {
        finishReason = "stop";
        break;
      }
      await this.wait(this.controls.tokenDelayMs);
    }
    if (this.jobs.get(job.id) !== entry) return;
    const tail = finishReason === "length" ? stopper.flush() : "";
    // As the worker does: an aborted job sends nothing more (its held-back tokens were never
    // sent, so a continuation regenerates them).
    if (finishReason !== "abort" && (tail || held.length > 0)) {
      entry.listener.onEvent({
        type: "text",
        text: tail,
        tokens: held.length,
        ids: held,
        ...(job.logprobs !== undefined ? { logprobs: heldLogprobs } : {}),
      });
    }
    this.jobs.delete(job.id);
    entry.listener.onEvent({
      type: "done",
      finishReason,
      promptTokens: job.prompt.tokens.length,
      completionTokens: count,
      timings: { cachedTokens, promptMs: 0, generationMs: performance.now() - started },
    });
  }

  abort(jobId: string): void {
    const entry = this.jobs.get(jobId);
    if (entry) entry.aborted = true;
  }

  async embed(inputs: PromptInput[]): Promise<EmbeddingResult> {
    this.checkSevered();
    const embeddings: number[][] = [];
    let promptTokens = 0;
    for (const input of inputs) {
      const prepared = await this.prepare(input);
      promptTokens += prepared.tokens.length;
      const digest = createHash("sha256").update(JSON.stringify(prepared.tokens)).digest();
      const vector = Array.from({ length: EMBEDDING_SIZE }, (_, i) => digest[i]! / 255 - 0.5);
      const norm = Math.hypot(...vector) || 1;
      embeddings.push(vector.map((v) => v / norm));
    }
    return { embeddings, promptTokens };
  }

  async detokenize(tokens: number[]): Promise<string> {
    this.checkSevered();
    return fakeDetokenize(tokens);
  }

  private checkSevered(): void {
    if (this.severed) {
      throw new ReplicaLostError(`fake replica ${this.id} was killed`, this.id, false);
    }
  }

  /**
   * Simulates a kill from outside whose exit the supervisor has not seen yet: the replica still
   * looks ready, every new call and job fails at once, and the crash is reported after `ms`.
   */
  sever(ms: number): void {
    if (this.current !== "ready") return;
    this.severed = true;
    setTimeout(() => this.crash("killed from outside"), ms);
  }

  stats(): ReplicaStats {
    return {
      busySlots: this.jobs.size,
      generatedTokens: this.generated,
      rssBytes: this.controls.rssBytes ?? 0,
      pid: null,
    };
  }

  lastHeartbeatAt(): number {
    return Date.now();
  }

  lastProgressAt(): number {
    return this.progressAt;
  }

  activeJobs(): number {
    return this.jobs.size;
  }

  onExit(callback: (reason: string) => void): void {
    this.exitCallbacks.push(callback);
  }

  /** Simulates a crash: every running job gets ReplicaLostError, then the exit callbacks run. */
  crash(reason = "crashed"): void {
    if (this.current === "dead" || this.current === "stopped") return;
    this.current = "dead";
    const entries = [...this.jobs.values()];
    this.jobs.clear();
    for (const e of entries) {
      e.listener.onError(
        new ReplicaLostError(`fake replica ${this.id} ${reason}`, this.id, e.started),
      );
    }
    for (const cb of this.exitCallbacks) cb(reason);
  }

  async stop(deadlineMs: number): Promise<void> {
    if (this.current === "dead" || this.current === "stopped") return;
    this.current = "draining";
    const deadline = Date.now() + deadlineMs;
    while (this.jobs.size > 0 && Date.now() < deadline) await this.wait(10);
    this.current = "stopped";
    const left = [...this.jobs.values()];
    this.jobs.clear();
    for (const e of left) {
      e.listener.onError(
        new EngineJobError("shutting_down", "the replica stopped at the drain deadline"),
      );
    }
    for (const cb of this.exitCallbacks) cb("stopped");
  }

  kill(reason: string): void {
    this.crash(reason);
  }
}
