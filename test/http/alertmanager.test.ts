/**
 * alerts.format alertmanager: the webhook receives Alertmanager's v2 alerts (an array of
 * postable alerts), firing ones again every resend period with an endsAt ahead, and a resolved
 * one with its endsAt.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { fakeEngine, startTestServer, waitFor, type TestServer } from "../helpers/server.js";
import { startWebhookReceiver, type WebhookReceiver } from "../helpers/webhook.js";
import { silentLogger } from "../../src/observability/index.js";
import { WebhookSink, toAlertmanager } from "../../src/observability/alerts/index.js";

let server: TestServer;
let hook: WebhookReceiver;
let usedBytes = 5e8;
const memorySource = { read: async () => ({ usedBytes, limitBytes: 1e9, source: "test" }) };

before(async () => {
  hook = await startWebhookReceiver();
  server = await startTestServer(
    {
      models: [{ name: "fake", path: "/models/fake.gguf", slots: 2 }],
      guards: { sampleIntervalMs: 50, warnPercent: 85, shedPercent: 90, reclaimPercent: 95 },
      alerts: {
        evaluateIntervalMs: 50,
        cpuPercent: 100,
        cacheHitPercent: 0,
        webhookUrl: hook.url,
        format: "alertmanager",
        alertmanagerResendMs: 300,
      },
    },
    { replicaFactory: fakeEngine().factory, memorySource },
  );
});
after(async () => {
  await server.close();
  await hook.close();
});

/** Every alert of every POST, in order of arrival. */
const posted = () => hook.events.flat() as any[];
const named = (name: string) => posted().filter((a) => a.labels.alertname === name);

test("memory_high is posted to the receiver in Alertmanager's v2 format, re-sent, then resolved", async () => {
  usedBytes = 8.2e8; // 82%: above memory_high's 80%, below the guard's warn level
  assert.ok(await waitFor(() => named("memory_high").length >= 2, 5_000), "fired and re-sent");
  for (const body of hook.events) assert.ok(Array.isArray(body), "each POST is an array");
  const firing = named("memory_high")[0];
  assert.deepEqual(Object.keys(firing).sort(), [
    "annotations",
    "endsAt",
    "generatorURL",
    "labels",
    "startsAt",
  ]);
  assert.equal(firing.labels.severity, "warning");
  assert.equal(firing.labels.service, "bulwark");
  assert.equal(firing.labels.instance, server.url);
  assert.equal(firing.generatorURL, `${server.url}/health`);
  assert.match(firing.annotations.summary, /memory use above 80%/);
  assert.equal(firing.annotations.threshold, "80");
  assert.ok(Date.parse(firing.endsAt) > Date.now(), "a firing alert ends in the future");
  assert.ok(Date.parse(firing.startsAt) <= Date.now());
  const resent = named("memory_high")[1];
  assert.equal(resent.startsAt, firing.startsAt, "a re-sent alert keeps its start");

  usedBytes = 5e8;
  assert.ok(
    await waitFor(
      () => named("memory_high").some((a) => Date.parse(a.endsAt) <= Date.now()),
      5_000,
    ),
    "resolved",
  );
  const resolved = named("memory_high").find((a) => Date.parse(a.endsAt) <= Date.now())!;
  assert.equal(resolved.startsAt, firing.startsAt);
  // Resolved alerts are not re-sent.
  const count = named("memory_high").length;
  await new Promise((r) => setTimeout(r, 800));
  assert.equal(named("memory_high").length, count);
});

test("the sink posts one array with every firing alert on a resend", async () => {
  const receiver = await startWebhookReceiver();
  const sink = new WebhookSink({
    url: receiver.url,
    retries: 0,
    backoffMs: 10,
    timeoutMs: 2_000,
    logger: silentLogger(),
    format: "alertmanager",
    resendMs: 100,
  });
  const base = { summary: "s", value: 1, threshold: 2, labels: {}, instance: "gw1" };
  sink.send({ ...base, alert: "cpu_high", state: "firing", startsAt: new Date().toISOString() });
  sink.send({
    ...base,
    alert: "model_integrity",
    state: "firing",
    startsAt: new Date().toISOString(),
  });
  assert.ok(await waitFor(() => receiver.events.some((b) => b.length === 2), 3_000));
  const both = receiver.events.find((b) => b.length === 2)!;
  assert.deepEqual(both.map((a: any) => a.labels.alertname).sort(), [
    "cpu_high",
    "model_integrity",
  ]);
  assert.equal(
    both.find((a: any) => a.labels.alertname === "model_integrity").labels.severity,
    "critical",
  );
  assert.equal(both[0].generatorURL, undefined, "no URL for an instance that is not one");
  await sink.close();
  await receiver.close();
});

test("a resolved event maps to an alert that ended at its endsAt", () => {
  const alert = toAlertmanager(
    {
      alert: "error_rate_high",
      state: "resolved",
      summary: "errors",
      value: null,
      threshold: 1,
      startsAt: "2026-01-01T00:00:00.000Z",
      endsAt: "2026-01-01T00:05:00.000Z",
      labels: { model: "m" },
      instance: "http://127.0.0.1:8080",
    },
    Date.parse("2026-01-01T00:06:00.000Z"),
    60_000,
  );
  assert.deepEqual(alert, {
    labels: {
      model: "m",
      alertname: "error_rate_high",
      severity: "critical",
      service: "bulwark",
      instance: "http://127.0.0.1:8080",
    },
    annotations: { summary: "errors", threshold: "1" },
    startsAt: "2026-01-01T00:00:00.000Z",
    endsAt: "2026-01-01T00:05:00.000Z",
    generatorURL: "http://127.0.0.1:8080/health",
  });
});
