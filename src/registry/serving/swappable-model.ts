/**
 * A served model whose host can be replaced while it serves: the hot swap behind `promote`.
 * New requests go to the new host once it has a ready worker; a request that already started
 * (or was tokenized) on the old host finishes there; then the old workers stop.
 */
import type {
  EmbeddingResult,
  GenerationJob,
  GenerationStream,
  ModelInfo,
  ModelStatus,
  PreparedPrompt,
  PromptInput,
  ServedModel,
} from "../../engine/index.js";
import type { Logger } from "../../observability/index.js";

/** What a swappable model needs of a host (ModelHost has it all). */
export interface SwappableHost extends ServedModel {
  start(): Promise<ModelInfo>;
  close(deadlineMs: number): Promise<void>;
}

/** How long a retiring host waits for prompts tokenized on it to be started, at most, in ms. */
const PREPARE_GRACE_MS = 5_000;

export class SwappableModel implements ServedModel {
  private current: SwappableHost;
  private currentVersion: string;
  /** Prompts being tokenized on each host: a retiring host stays open until they are started. */
  private readonly preparing = new Map<SwappableHost, number>();
  /** Which host tokenized a prompt, so that its generation runs on the same host. */
  private readonly origin = new WeakMap<PreparedPrompt, SwappableHost>();
  private readonly retiring = new Set<Promise<void>>();
  private swapping: Promise<boolean> | undefined;
  private closed = false;

  constructor(
    readonly name: string,
    host: SwappableHost,
    version: string,
    private readonly drainMs: number,
    private readonly log: Logger,
  ) {
    this.current = host;
    this.currentVersion = version;
  }

  get version(): string {
    return this.currentVersion;
  }

  get created(): number {
    return this.current.created;
  }

  /** True while a swap is loading its new host. */
  get isSwapping(): boolean {
    return this.swapping !== undefined;
  }

  start(): Promise<ModelInfo> {
    return this.current.start();
  }

  info(): ModelInfo | undefined {
    return this.current.info();
  }

  isReady(): boolean {
    return this.current.isReady();
  }

  isUnloaded(): boolean {
    return this.current.isUnloaded();
  }

  status(): ModelStatus {
    return {
      ...this.current.status(),
      name: this.name,
      version: this.currentVersion,
    } as ModelStatus;
  }

  async prepare(input: PromptInput): Promise<PreparedPrompt> {
    const host = this.current;
    this.preparing.set(host, (this.preparing.get(host) ?? 0) + 1);
    try {
      const prompt = await host.prepare(input);
      this.origin.set(prompt, host);
      return prompt;
    } finally {
      this.preparing.set(host, (this.preparing.get(host) ?? 1) - 1);
    }
  }

  generate(job: GenerationJob, options?: { priority?: number }): GenerationStream {
    const host = this.origin.get(job.prompt) ?? this.current;
    return host.generate(job, options);
  }

  embed(inputs: PromptInput[]): Promise<EmbeddingResult> {
    return this.current.embed(inputs);
  }

  detokenize(tokens: number[]): Promise<string> {
    return this.current.detokenize(tokens);
  }

  /**
   * Loads `next` and, once it has a ready worker, sends new requests to it and retires the old
   * host. Resolves true when swapped; false (old host kept) when `next` failed to load.
   */
  swap(next: SwappableHost, version: string): Promise<boolean> {
    if (this.swapping) throw new Error(`a swap of ${this.name} is already running`);
    const run = async (): Promise<boolean> => {
      try {
        await next.start();
      } catch (err) {
        this.log.error(
          { model: this.name, version, err: (err as Error).message },
          "the new version failed to load; keeping the old one",
        );
        await next.close(0);
        return false;
      }
      if (this.closed) {
        await next.close(0);
        return false;
      }
      const old = this.current;
      const from = this.currentVersion;
      this.current = next;
      this.currentVersion = version;
      this.log.info(
        { model: this.name, from, to: version },
        "new version serving; draining the old one",
      );
      const retired = this.retire(old, from);
      this.retiring.add(retired);
      void retired.finally(() => this.retiring.delete(retired));
      return true;
    };
    this.swapping = run().finally(() => {
      this.swapping = undefined;
    });
    return this.swapping;
  }

  /** Waits for the old host's in-progress tokenizations to start, then drains and stops it. */
  private async retire(old: SwappableHost, version: string): Promise<void> {
    const deadline = Date.now() + PREPARE_GRACE_MS;
    while ((this.preparing.get(old) ?? 0) > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    // A prompt whose tokenization just resolved calls generate in the same microtask chain;
    // one macrotask later it has been called.
    await new Promise((r) => setImmediate(r));
    this.preparing.delete(old);
    await old.close(this.drainMs);
    this.log.info({ model: this.name, version }, "old version stopped");
  }

  /** Waits until every retiring host has stopped (tests, shutdown). */
  async settled(): Promise<void> {
    await this.swapping;
    await Promise.all([...this.retiring]);
  }

  async close(deadlineMs: number): Promise<void> {
    this.closed = true;
    await this.swapping?.catch(() => undefined);
    await Promise.all([this.current.close(deadlineMs), ...this.retiring]);
  }
}
