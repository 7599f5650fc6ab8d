/**
 * Holds every alert's state (firing or resolved) and sends each change to the sinks. KPI
 * rules are evaluated on a timer; other parts (the memory guard) set their alerts directly.
 */
import type { AlertEvent, AlertRule, AlertSink, AlertStatus } from "./types.js";

interface State {
  firing: boolean;
  since: number | null;
  value: number | null;
  threshold: number | null;
  summary: string;
  labels: Record<string, string>;
}

export interface AlertManagerOptions {
  rules: AlertRule[];
  sinks: AlertSink[];
  evaluateIntervalMs: number;
  /** The API's address, read when an event is sent (it is known only once listening). */
  instance: () => string;
  now?: () => number;
}

export class AlertManager {
  private readonly states = new Map<string, State>();
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly o: AlertManagerOptions) {
    this.now = o.now ?? Date.now;
    for (const rule of o.rules) {
      this.states.set(rule.name, {
        firing: false,
        since: null,
        value: null,
        threshold: rule.threshold,
        summary: rule.summary,
        labels: {},
      });
    }
  }

  start(): void {
    this.timer ??= setInterval(() => this.evaluate(), this.o.evaluateIntervalMs);
    this.timer.unref();
  }

  /** Evaluates every KPI rule once. */
  evaluate(): void {
    const now = this.now();
    for (const rule of this.o.rules) {
      const value = rule.value(now);
      const firing = value !== undefined && rule.firing(value);
      this.set(rule.name, firing, { value: value ?? null, summary: rule.summary });
    }
  }

  /** Sets an alert's state; sends an event when it changes (or, firing, when its labels do). */
  set(
    name: string,
    firing: boolean,
    info: {
      value?: number | null;
      threshold?: number | null;
      summary?: string;
      labels?: Record<string, string>;
    } = {},
  ): void {
    const now = this.now();
    const prev = this.states.get(name);
    const state: State = prev ?? {
      firing: false,
      since: null,
      value: null,
      threshold: null,
      summary: name,
      labels: {},
    };
    const labelsChanged =
      info.labels !== undefined && JSON.stringify(info.labels) !== JSON.stringify(state.labels);
    state.value = info.value ?? state.value;
    state.threshold = info.threshold ?? state.threshold;
    state.summary = info.summary ?? state.summary;
    if (info.labels) state.labels = info.labels;
    this.states.set(name, state);
    if (firing === state.firing && !(firing && labelsChanged)) return;
    const startsAt = firing && !state.firing ? now : (state.since ?? now);
    state.firing = firing;
    state.since = firing ? startsAt : null;
    const event: AlertEvent = {
      alert: name,
      state: firing ? "firing" : "resolved",
      summary: state.summary,
      value: state.value,
      threshold: state.threshold,
      startsAt: new Date(startsAt).toISOString(),
      labels: state.labels,
      instance: this.o.instance(),
    };
    if (!firing) event.endsAt = new Date(now).toISOString();
    for (const sink of this.o.sinks) {
      try {
        sink.send(event);
      } catch {
        // A sink's failure never stops the others.
      }
    }
  }

  /** Every alert with its state. */
  all(): AlertStatus[] {
    return [...this.states.entries()].map(([alert, s]) => ({
      alert,
      firing: s.firing,
      summary: s.summary,
      value: s.value === null ? null : Math.round(s.value * 1000) / 1000,
      threshold: s.threshold,
      since: s.since === null ? null : new Date(s.since).toISOString(),
      labels: s.labels,
    }));
  }

  /** The alerts firing now. */
  active(): AlertStatus[] {
    return this.all().filter((a) => a.firing);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
