/**
 * The batch runner: takes pending lines of the batches in progress, oldest batch first, keeps
 * `concurrency` of them in flight, and sends each through a LineExecutor (the live API, in
 * the low-priority lane). Every step is in the ledger before it happens: a line is running
 * (attempt counted) before its request starts, and done only once its result line is fsynced.
 * A line refused for a limit (429, a 503 with Retry-After) goes back to pending uncounted and
 * its batch pauses for the Retry-After: the batch runs at the pace its key's limits allow.
 * On start, the lines that were running go back to pending, after the result files are
 * reconciled with the ledger (result-files.ts).
 */
import { BulwarkError } from "../errors/index.js";
import type { Logger } from "../observability/index.js";
import type { BatchLedger, BatchRow, LineRow } from "./ledger.js";
import type { FileStore } from "./file-store.js";
import type { BatchEndpoint } from "./line-check.js";
import { newLineRequestId } from "./ids.js";
import { ResultFiles } from "./result-files.js";

/** One line as the executor runs it. */
export interface LineRequest {
  batchId: string;
  customId: string;
  url: BatchEndpoint;
  /** The request body, JSON. */
  body: string;
  /** The address the batch was created from: its line requests come from it. */
  clientIp: string | null;
}

export interface LineResponse {
  status: number;
  /** The response body, JSON. */
  body: string;
  requestId: string;
  /** From Retry-After, on a refusal for a limit. */
  retryAfterMs?: number;
}

/** Runs one line's request: the port the runner uses, implemented over the live API. */
export interface LineExecutor {
  execute(request: LineRequest): Promise<LineResponse>;
}

export interface RunnerSettings {
  concurrency: number;
  maxAttempts: number;
  /** How often the runner looks at the ledger without being woken, in ms. */
  pollMs?: number;
}

export type LineOutcome = "completed" | "failed" | "retried";

export interface RunnerObserver {
  line(outcome: LineOutcome): void;
}

/** A pause after a refusal without Retry-After, and the longest pause, in ms. */
const DEFAULT_PAUSE_MS = 1_000;
const MAX_PAUSE_MS = 60_000;

export class BatchRunner {
  private readonly results: ResultFiles;
  private inFlight = 0;
  private readonly running = new Map<string, number>();
  private readonly pausedUntil = new Map<string, number>();
  /** Batches whose finalization is under way (it awaits its writes). */
  private readonly finalizing = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private scheduled = false;
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly ledger: BatchLedger,
    private readonly store: FileStore,
    private readonly executor: LineExecutor,
    private readonly settings: RunnerSettings,
    private readonly log: Logger,
    private readonly observer: Partial<RunnerObserver> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.results = new ResultFiles(store);
  }

  /** Reconciles the ledger with the result files, re-queues cut-short lines, and starts. */
  start(): void {
    let adopted = 0;
    for (const b of this.ledger.batchesIn(["in_progress", "cancelling", "finalizing"])) {
      adopted += this.results.recover(this.ledger, b);
    }
    const requeued = this.ledger.requeueRunning();
    if (adopted || requeued) {
      this.log.info(
        { adopted, requeued },
        "batches recovered: cut-short lines go back to the queue",
      );
    }
    const poll = this.settings.pollMs ?? 1_000;
    this.timer = setInterval(() => this.wake(), poll);
    this.timer.unref();
    this.wake();
  }

  /** Looks for work on the next turn of the event loop. */
  wake(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      try {
        this.tick();
      } catch (err) {
        this.log.error({ err: (err as Error).message }, "batch runner step failed");
      }
    });
  }

  private runningIn(batchId: string): number {
    return this.running.get(batchId) ?? 0;
  }

  /** One step: status changes the ledger allows now, then new lines up to the concurrency. */
  tick(): void {
    if (this.closed) return;
    const at = Math.floor(this.now() / 1000);
    for (const b of this.ledger.batchesIn(["validating"]))
      this.ledger.move(b.id, "in_progress", at);
    for (const b of this.ledger.batchesIn(["in_progress"])) {
      if (at >= b.expires_at) this.ledger.move(b.id, "finalizing", at, { ending: "expired" });
      else if (this.ledger.openLines(b.id) === 0) {
        this.ledger.move(b.id, "finalizing", at, { ending: "completed" });
      }
    }
    for (const b of this.ledger.batchesIn(["cancelling"])) {
      if (this.runningIn(b.id) === 0) {
        this.ledger.move(b.id, "finalizing", at, { ending: "cancelled" });
      }
    }
    for (const b of this.ledger.batchesIn(["finalizing"])) {
      if (this.runningIn(b.id) === 0 && !this.finalizing.has(b.id)) void this.finalize(b, at);
    }
    const nowMs = this.now();
    for (const b of this.ledger.batchesIn(["in_progress"])) {
      if (this.inFlight >= this.settings.concurrency) break;
      if ((this.pausedUntil.get(b.id) ?? 0) > nowMs) continue;
      while (this.inFlight < this.settings.concurrency) {
        const line = this.ledger.claim(b.id);
        if (!line) break;
        void this.run(b, line);
      }
    }
    if (this.inFlight === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private async run(batch: BatchRow, line: LineRow): Promise<void> {
    this.inFlight++;
    this.running.set(batch.id, this.runningIn(batch.id) + 1);
    try {
      const raw = await this.store.readLine(
        batch.input_file_id,
        line.input_offset,
        line.input_length,
      );
      const body = JSON.stringify((JSON.parse(raw.toString("utf8")) as { body: unknown }).body);
      const response = await this.executor.execute({
        batchId: batch.id,
        customId: line.custom_id,
        url: batch.endpoint,
        body,
        clientIp: batch.client_ip,
      });
      await this.settle(batch, line, response);
    } catch (err) {
      this.log.warn(
        { batch: batch.id, customId: line.custom_id, err: (err as Error).message },
        "batch line failed to run; it goes back to the queue",
      );
      this.retry(batch, line, false, DEFAULT_PAUSE_MS);
    } finally {
      this.inFlight--;
      this.running.set(batch.id, this.runningIn(batch.id) - 1);
      this.wake();
    }
  }

  /** What becomes of a line that got an answer. */
  private async settle(batch: BatchRow, line: LineRow, response: LineResponse): Promise<void> {
    const refused = response.status === 429 || response.status === 503;
    if (refused && !this.closed) {
      this.retry(batch, line, true, response.retryAfterMs ?? DEFAULT_PAUSE_MS);
      return;
    }
    if (refused) {
      this.ledger.release(batch.id, line.line_no, true);
      return;
    }
    if (response.status >= 500 && line.attempts < this.settings.maxAttempts) {
      this.retry(batch, line, false, DEFAULT_PAUSE_MS);
      return;
    }
    const ok = response.status === 200;
    await this.write(batch, line, ok ? "output" : "error", {
      status_code: response.status,
      request_id: response.requestId,
      body: parseBody(response.body),
    });
  }

  private retry(batch: BatchRow, line: LineRow, uncount: boolean, pauseMs: number): void {
    this.ledger.release(batch.id, line.line_no, uncount);
    this.observer.line?.("retried");
    const until = this.now() + Math.min(MAX_PAUSE_MS, Math.max(100, pauseMs));
    this.pausedUntil.set(batch.id, Math.max(this.pausedUntil.get(batch.id) ?? 0, until));
  }

  /** Appends the line's result (fsynced), then records it in the ledger. */
  private async write(
    batch: BatchRow,
    line: LineRow,
    file: "output" | "error",
    response: { status_code: number; request_id: string; body: unknown } | null,
    error: { code: string; message: string } | null = null,
  ): Promise<void> {
    const record = { id: newLineRequestId(), custom_id: line.custom_id, response, error };
    const fileId = file === "output" ? batch.output_file_id : batch.error_file_id;
    const where = await this.results.append(fileId, JSON.stringify(record));
    const status = file === "output" ? "completed" : "failed";
    this.ledger.finish(batch.id, line.line_no, { status, file, ...where });
    this.observer.line?.(status);
  }

  /**
   * Ends a finalizing batch: an expired one writes its lines that never ran to the error file
   * (batch_expired); the result files that hold a line become files of the batch's owner.
   */
  private async finalize(batch: BatchRow, at: number): Promise<void> {
    this.finalizing.add(batch.id);
    try {
      await this.end(batch, at);
    } catch (err) {
      this.log.error({ batch: batch.id, err: (err as Error).message }, "batch finalization failed");
    } finally {
      this.finalizing.delete(batch.id);
    }
  }

  private async end(batch: BatchRow, at: number): Promise<void> {
    if (batch.ending === "expired") {
      for (const line of this.ledger.linesIn(batch.id, "pending")) {
        await this.write(batch, line, "error", null, {
          code: "batch_expired",
          message: "This request could not be executed before the completion window expired.",
        });
      }
    }
    for (const [fileId, name] of [
      [batch.output_file_id, `${batch.id}_output.jsonl`],
      [batch.error_file_id, `${batch.id}_error.jsonl`],
    ] as const) {
      const bytes = await this.store.plainSize(fileId);
      if (bytes === 0) continue;
      this.ledger.insertFile({
        id: fileId,
        owner: batch.owner,
        purpose: "batch_output",
        filename: name,
        bytes,
        created_at: at,
        requests: null,
        model: null,
        endpoint: null,
      });
    }
    this.ledger.move(batch.id, batch.ending ?? "completed", at);
    this.pausedUntil.delete(batch.id);
    this.log.info({ batch: batch.id, ending: batch.ending }, "batch ended");
  }

  /** Resolves when no line is in flight (tests, shutdown). */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Stops taking lines and waits up to `deadlineMs` for those in flight; a line still running
   * then stays running in the ledger and runs again after the next start.
   */
  async close(deadlineMs: number): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await Promise.race([this.idleAll(), new Promise((r) => setTimeout(r, deadlineMs).unref())]);
  }

  private idleAll(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const check = setInterval(() => {
        if (this.inFlight === 0) {
          clearInterval(check);
          resolve();
        }
      }, 20);
    });
  }
}

function parseBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return new BulwarkError("internal_error").toBody();
  }
}
