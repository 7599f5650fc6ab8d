/** Alert rules, states and the events sinks receive. */

export interface AlertRule {
  name: string;
  summary: string;
  threshold: number;
  /** The KPI's value now; undefined when the window has too little data to judge. */
  value(now: number): number | undefined;
  firing(value: number): boolean;
}

export type AlertStateName = "firing" | "resolved";

export interface AlertEvent {
  alert: string;
  state: AlertStateName;
  summary: string;
  value: number | null;
  threshold: number | null;
  /** ISO time the alert started firing. */
  startsAt: string;
  /** ISO time it resolved (resolved events only). */
  endsAt?: string;
  labels: Record<string, string>;
  /** Instance that raised it (host:port of the API). */
  instance: string;
}

export interface AlertStatus {
  alert: string;
  firing: boolean;
  summary: string;
  value: number | null;
  threshold: number | null;
  since: string | null;
  labels: Record<string, string>;
}

/** Where events go: the log, a webhook, metrics. */
export interface AlertSink {
  send(event: AlertEvent): void;
}
