/**
 * Delivers alert events to a webhook as JSON POSTs, one at a time and in order, retrying a
 * failed delivery with doubling delays. A timer of its own bounds each attempt (an
 * AbortSignal.timeout can fail to fire on Node 20 after GC). The URL may hold a token, so it
 * is never logged.
 */
import type { Logger } from "../logger.js";
import type { AlertEvent, AlertSink } from "./types.js";

export interface WebhookOptions {
  url: string;
  retries: number;
  backoffMs: number;
  timeoutMs: number;
  logger: Logger;
}

export class WebhookSink implements AlertSink {
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly log: Logger;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly o: WebhookOptions) {
    this.log = o.logger.child({ component: "alerts" });
  }

  send(event: AlertEvent): void {
    this.chain = this.chain.then(() => this.deliver(event));
  }

  private async deliver(event: AlertEvent): Promise<void> {
    const body = JSON.stringify(event);
    for (let attempt = 0; attempt <= this.o.retries && !this.closed; attempt++) {
      if (attempt > 0) await this.sleep(this.o.backoffMs * 2 ** (attempt - 1));
      const error = await this.post(body);
      if (!error) return;
      this.log.warn(
        { alert: event.alert, state: event.state, attempt: attempt + 1, err: error },
        "alert webhook delivery failed",
      );
    }
    this.log.error({ alert: event.alert, state: event.state }, "alert webhook gave up");
  }

  private async post(body: string): Promise<string | undefined> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.o.timeoutMs);
    try {
      const res = await fetch(this.o.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
        signal: controller.signal,
      });
      await res.arrayBuffer().catch(() => undefined);
      return res.ok ? undefined : `status ${res.status}`;
    } catch (err) {
      return controller.signal.aborted
        ? `timed out after ${this.o.timeoutMs} ms`
        : (err as Error).message;
    } finally {
      clearTimeout(timer);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, ms);
      this.timers.add(t);
    });
  }

  /** Waits for deliveries in flight up to `graceMs`, then stops retrying. */
  async close(graceMs = 2_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.chain, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
  }
}

/** Writes each event to the log: warn when firing, info when resolved. */
export class LogSink implements AlertSink {
  constructor(private readonly logger: Logger) {}

  send(event: AlertEvent): void {
    const fields = {
      alert: event.alert,
      state: event.state,
      value: event.value,
      threshold: event.threshold,
      labels: event.labels,
    };
    if (event.state === "firing") this.logger.warn(fields, `alert firing: ${event.summary}`);
    else this.logger.info(fields, `alert resolved: ${event.alert}`);
  }
}
