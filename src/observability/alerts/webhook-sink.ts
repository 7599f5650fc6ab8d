/**
 * Delivers alert events to a webhook as JSON POSTs, one at a time and in order, retrying a
 * failed delivery with doubling delays. In Alertmanager's format each POST is an array of v2
 * alerts, and the firing ones are sent again every `resendMs` so that Alertmanager keeps them
 * open. A timer of its own bounds each attempt (an
 * AbortSignal.timeout can fail to fire on Node 20 after GC). The URL may hold a token, so it
 * is never logged.
 */
import type { Logger } from "../logger.js";
import type { AlertEvent, AlertSink } from "./types.js";
import { toAlertmanager } from "./alertmanager.js";

export interface WebhookOptions {
  url: string;
  retries: number;
  backoffMs: number;
  timeoutMs: number;
  logger: Logger;
  /** `json`: Bulwark's event; `alertmanager`: Alertmanager's v2 alerts. Default json. */
  format?: "json" | "alertmanager";
  /** Alertmanager format: how often firing alerts are sent again, in ms (default 60 s). */
  resendMs?: number;
  now?: () => number;
}

export class WebhookSink implements AlertSink {
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly log: Logger;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Alertmanager format: the firing alerts, by name, sent again each period. */
  private readonly firing = new Map<string, AlertEvent>();
  private resendTimer: NodeJS.Timeout | undefined;
  private resendQueued = false;
  private readonly now: () => number;
  private readonly resendMs: number;

  constructor(private readonly o: WebhookOptions) {
    this.log = o.logger.child({ component: "alerts" });
    this.now = o.now ?? Date.now;
    this.resendMs = o.resendMs ?? 60_000;
    if (o.format === "alertmanager") {
      this.resendTimer = setInterval(() => this.resend(), this.resendMs);
      this.resendTimer.unref();
    }
  }

  send(event: AlertEvent): void {
    if (this.o.format === "alertmanager") {
      if (event.state === "firing") this.firing.set(event.alert, event);
      else this.firing.delete(event.alert);
    }
    const body = this.body([event]);
    this.chain = this.chain.then(() => this.deliver(event, body));
  }

  private body(events: AlertEvent[]): string {
    if (this.o.format !== "alertmanager") return JSON.stringify(events[0]);
    return JSON.stringify(events.map((e) => toAlertmanager(e, this.now(), this.resendMs)));
  }

  /**
   * Sends the firing alerts again, in one POST, after the deliveries already queued; at most
   * one resend waits at a time, so an unreachable Alertmanager does not pile them up.
   */
  private resend(): void {
    if (this.firing.size === 0 || this.closed || this.resendQueued) return;
    this.resendQueued = true;
    this.chain = this.chain.then(() => {
      this.resendQueued = false;
      const events = [...this.firing.values()];
      if (events.length === 0) return;
      return this.deliver(events[0]!, this.body(events));
    });
  }

  private async deliver(event: AlertEvent, body: string): Promise<void> {
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
    if (this.resendTimer) clearInterval(this.resendTimer);
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
