/**
 * Alert events as Alertmanager's v2 API takes them (POST /api/v2/alerts, a JSON array of
 * postable alerts: labels, annotations, startsAt, endsAt, generatorURL). Alertmanager resolves
 * an alert whose endsAt has passed, so a firing alert carries an endsAt a few resend periods
 * ahead and is sent again every period, as Prometheus does (4 × its resend delay).
 */
import type { AlertEvent } from "./types.js";

/** One alert of Alertmanager's v2 `postableAlerts`. */
export interface AlertmanagerAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL?: string;
}

/** Severity per alert, the same as the shipped Prometheus rules (deploy/prometheus/). */
const SEVERITY: Record<string, string> = {
  memory_pressure: "critical",
  error_rate_high: "critical",
  availability_low: "critical",
  model_integrity: "critical",
  cache_hit_rate_low: "info",
};

/** How many resend periods ahead a firing alert's endsAt lies (Prometheus's factor). */
export const ENDS_AT_PERIODS = 4;

/** The event as an Alertmanager alert; a firing one ends `resendMs × 4` after `now`. */
export function toAlertmanager(
  event: AlertEvent,
  now: number,
  resendMs: number,
): AlertmanagerAlert {
  const annotations: Record<string, string> = { summary: event.summary };
  if (event.value !== null) annotations.value = String(event.value);
  if (event.threshold !== null) annotations.threshold = String(event.threshold);
  const alert: AlertmanagerAlert = {
    labels: {
      ...event.labels,
      alertname: event.alert,
      severity: SEVERITY[event.alert] ?? "warning",
      service: "bulwark",
      instance: event.instance,
    },
    annotations,
    startsAt: event.startsAt,
    endsAt:
      event.state === "resolved"
        ? (event.endsAt ?? new Date(now).toISOString())
        : new Date(now + ENDS_AT_PERIODS * resendMs).toISOString(),
  };
  if (/^https?:\/\//.test(event.instance)) alert.generatorURL = `${event.instance}/health`;
  return alert;
}
