/**
 * Compiles response_format JSON schemas to GBNF off the event loop, with a hard time limit: a
 * schema that takes longer than the limit terminates its thread and gets 400 grammar_timeout.
 * Results are cached by schema text.
 */
import { Worker } from "node:worker_threads";
import { BulwarkError } from "../../errors/index.js";

const THREAD_URL = new URL("./grammar-thread.js", import.meta.url);
const CACHE_LIMIT = 128;

interface Pending {
  resolve(grammar: string): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export class GrammarCompiler {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private readonly cache = new Map<string, string>();
  private queue: Promise<unknown> = Promise.resolve();

  /** `onLookup` hears every cache lookup, found or not (for the cache metrics). */
  constructor(
    private readonly timeoutMs: number,
    private readonly onLookup: (hit: boolean) => void = () => undefined,
  ) {}

  private thread(): Worker {
    if (!this.worker) {
      const worker = new Worker(THREAD_URL);
      worker.unref();
      worker.on("message", (m: { id: number; grammar?: string; error?: string }) => {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        clearTimeout(p.timer);
        if (m.grammar !== undefined) p.resolve(m.grammar);
        else
          p.reject(
            new BulwarkError(
              "invalid_grammar",
              `The JSON schema cannot be used as a response format: ${m.error ?? "unknown error"}`,
              { param: "response_format" },
            ),
          );
      });
      worker.on("error", (err) => this.reset(err));
      worker.on("exit", () => {
        if (this.worker === worker) this.worker = undefined;
      });
      this.worker = worker;
    }
    return this.worker;
  }

  private reset(err: Error): void {
    const worker = this.worker;
    this.worker = undefined;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    void worker?.terminate();
  }

  /** Empties the compiled-grammar cache (memory reclaim); returns how many entries it held. */
  clearCache(): number {
    const n = this.cache.size;
    this.cache.clear();
    return n;
  }

  /** GBNF for a JSON schema; one compilation at a time so the limit measures this schema alone. */
  compile(schema: unknown): Promise<string> {
    const key = JSON.stringify(schema);
    const hit = this.cache.get(key);
    this.onLookup(hit !== undefined);
    if (hit !== undefined) return Promise.resolve(hit);
    const run = () => this.compileNow(schema, key);
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private compileNow(schema: unknown, key: string): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const id = this.nextId++;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new BulwarkError(
            "grammar_timeout",
            `Compiling the response format took longer than ${this.timeoutMs} ms.`,
            { param: "response_format" },
          ),
        );
        this.reset(new Error("grammar compilation restarted"));
      }, this.timeoutMs);
      this.pending.set(id, {
        resolve: (grammar) => {
          if (this.cache.size >= CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value!);
          this.cache.set(key, grammar);
          resolve(grammar);
        },
        reject,
        timer,
      });
      this.thread().postMessage({ id, schema });
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }
}
