/**
 * deploy/kubernetes/ cannot be applied here (no cluster), so this test holds it to the code:
 * every manifest parses; the ConfigMap's config passes the real config schema and checks; the
 * ports, probe paths, metric names and environment variables the manifests name are the ones
 * the gateway serves and reads; and the drain timings fit in the pod's grace period.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { listConfigFields, loadConfig, planThreads, type Config } from "../../src/config/index.js";
import { Metrics } from "../../src/observability/index.js";
import { repoRoot } from "../helpers/paths.js";
import { buildTestGateway, type TestGateway } from "../helpers/gateway.js";

const dir = join(repoRoot(), "deploy", "kubernetes");
type Doc = Record<string, any>;

/** Every document of every YAML file in the folder, with the file it came from. */
function manifests(): { file: string; doc: Doc }[] {
  const out: { file: string; doc: Doc }[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".yaml"))) {
    for (const d of parseAllDocuments(readFileSync(join(dir, file), "utf8"))) {
      assert.deepEqual(d.errors, [], `${file} parses`);
      out.push({ file, doc: d.toJS() as Doc });
    }
  }
  return out;
}

const all = manifests();
const find = (kind: string, name: string) => {
  const found = all.find((m) => m.doc.kind === kind && m.doc.metadata?.name === name);
  assert.ok(found, `${kind} ${name} is in deploy/kubernetes`);
  return found.doc;
};
const deployment = find("Deployment", "bulwark");
const container = deployment.spec.template.spec.containers.find((c: Doc) => c.name === "bulwark");
const configMap = find("ConfigMap", "bulwark-config");
const secret = find("Secret", "bulwark-secrets");

let home: string;
let config: Readonly<Config>;
let gateway: TestGateway;

before(async () => {
  // The ConfigMap's file, loaded as `serve --config` loads it, with nothing from this machine.
  home = mkdtempSync(join(tmpdir(), "bulwark-k8s-"));
  const file = join(home, "bulwark.yaml");
  writeFileSync(file, configMap.data["bulwark.yaml"]);
  config = loadConfig({ file, env: {} });
  gateway = await buildTestGateway({
    models: [{ name: "fake", path: "/models/fake.gguf" }],
  });
});
after(async () => {
  await gateway.close();
  rmSync(home, { recursive: true, force: true });
});

/** A container port by name or number, as a probe or a Service's targetPort names it. */
const containerPort = (port: string | number) =>
  typeof port === "number"
    ? port
    : (container.ports as Doc[]).find((p) => p.name === port)?.containerPort;

test("every file is Kubernetes objects with a kind and a name; kustomization lists the core set", () => {
  for (const { file, doc } of all) {
    assert.ok(doc.apiVersion && doc.kind, `${file}: apiVersion and kind`);
    if (doc.kind !== "Kustomization") assert.ok(doc.metadata?.name, `${file}: a name`);
  }
  const kustomization = all.find((m) => m.doc.kind === "Kustomization")?.doc;
  assert.ok(kustomization, "a kustomization.yaml");
  const files = new Set(readdirSync(dir).filter((f) => f.endsWith(".yaml")));
  for (const r of kustomization.resources as string[]) assert.ok(files.has(r), r);
  assert.ok(
    !kustomization.resources.includes("keda-scaledobject.yaml"),
    "the KEDA alternative is not applied next to the HPA",
  );
  for (const kind of [
    "Deployment",
    "Service",
    "PodDisruptionBudget",
    "ConfigMap",
    "Secret",
    "HorizontalPodAutoscaler",
    "ScaledObject",
  ]) {
    assert.ok(
      all.some((m) => m.doc.kind === kind),
      `a ${kind}`,
    );
  }
});

test("the ConfigMap's config passes the real schema and serves on the pod's address", () => {
  assert.equal(config.server.host, "0.0.0.0");
  assert.equal(config.security.auth, true, "auth on: the pod's address is not loopback");
  assert.equal(config.server.adminHost, "127.0.0.1", "the admin API stays in the pod");
  assert.equal(config.state.backend, "redis");
  assert.equal(config.guards.memoryBudgetBytes, 0, "the guard reads the cgroup's memory.max");
  // It starts from the file the ConfigMap is mounted as.
  const mount = (container.volumeMounts as Doc[]).find((m) => m.name === "config");
  const volume = (deployment.spec.template.spec.volumes as Doc[]).find((v) => v.name === "config");
  assert.ok(mount && volume, "the config volume is mounted");
  assert.equal(volume.configMap.name, "bulwark-config");
  const at = (container.args as string[]).indexOf("--config");
  assert.equal(container.args[0], "serve");
  assert.equal(container.args[at + 1], `${mount.mountPath}/bulwark.yaml`);
  // The home and the models are mounted where the config says.
  const mounts = (container.volumeMounts as Doc[]).map((m) => m.mountPath as string);
  assert.ok(mounts.includes(config.home));
  for (const m of config.models) {
    assert.ok(m.path, `${m.name} has a model file`);
    assert.ok(
      mounts.some((p) => m.path!.startsWith(`${p}/`)),
      `${m.path} is on a mounted volume`,
    );
  }
});

test("ports: the container, the probes and the Service use the config's server.port", () => {
  assert.equal(containerPort("http"), config.server.port);
  for (const probe of ["livenessProbe", "readinessProbe", "startupProbe"]) {
    assert.equal(containerPort(container[probe].httpGet.port), config.server.port, probe);
  }
  const service = find("Service", "bulwark");
  assert.deepEqual(service.spec.selector, deployment.spec.template.metadata.labels);
  for (const p of service.spec.ports as Doc[]) {
    assert.equal(containerPort(p.targetPort), config.server.port);
  }
  assert.ok(
    !(container.ports as Doc[]).some((p) => p.containerPort === config.server.adminPort),
    "the admin port is not published",
  );
  // Redis: the Service the config's URL names, on the port it names.
  const url = new URL(config.state.redisUrl);
  const redis = find("Service", url.hostname);
  assert.equal(redis.spec.ports[0].port, Number(url.port || 6379));
});

test("probe paths are open routes of the gateway: /livez and /readyz answer without a key", async () => {
  assert.equal(container.livenessProbe.httpGet.path, "/livez");
  assert.equal(container.readinessProbe.httpGet.path, "/readyz");
  for (const probe of ["livenessProbe", "readinessProbe", "startupProbe"]) {
    const path = container[probe].httpGet.path as string;
    assert.ok(gateway.app.hasRoute({ method: "GET", url: path }), `${path} is a route`);
    const res = await gateway.request("GET", path);
    assert.equal(res.status, 200, `${probe} ${path}: ${res.text}`);
  }
});

test("the drain fits: preStop + shutdownDelayMs + drainTimeoutMs < terminationGracePeriodSeconds", () => {
  const preStop = container.lifecycle.preStop.exec.command as string[];
  assert.equal(preStop[0], "sleep");
  const sleepS = Number(preStop[1]);
  const grace = deployment.spec.template.spec.terminationGracePeriodSeconds as number;
  const drainS = (config.server.shutdownDelayMs + config.server.drainTimeoutMs) / 1000;
  assert.ok(sleepS + drainS + 5 <= grace, `${sleepS} + ${drainS} + 5 s ≤ ${grace} s`);
  // Readiness has turned 503 long enough for the probe to take the pod out before the listener
  // closes (docs/operations.md: shutdownDelayMs over periodSeconds × failureThreshold).
  const r = container.readinessProbe;
  assert.ok(config.server.shutdownDelayMs / 1000 > r.periodSeconds * r.failureThreshold);
});

test("resources: a memory limit for the guard's cgroup reading, and CPU for the threads at max", () => {
  const { requests, limits } = container.resources;
  assert.ok(limits.memory, "a memory limit (cgroup memory.max)");
  assert.equal(requests.memory, limits.memory);
  const cpu = Number(limits.cpu);
  assert.ok(Number.isInteger(cpu), "whole cores");
  // A container sees its node's cores: the plan must hold against the CPU limit, so the
  // threads are explicit and the workers at their max replicas leave the gateway one core.
  assert.ok(config.engine.threads > 0, "engine.threads is explicit");
  const plan = planThreads(
    config.models.map((entry) => ({ entry })),
    config.engine,
    cpu,
  );
  const threads = plan.reduce((n, p) => n + p.threads * p.maxReplicas, 0);
  assert.ok(threads + 1 <= cpu, `${threads} threads at max + 1 for the gateway ≤ ${cpu} cores`);
  assert.ok(
    plan.some((p) => p.maxReplicas > p.replicas),
    "the example shows an autoscaled model",
  );
});

test("every BULWARK_* variable the pod gets is one the server reads", () => {
  const configEnv = new Set(listConfigFields().map((f) => f.env));
  // Read outside the schema: the first admin key and the data key (docs/security.md).
  const known = new Set([...configEnv, "BULWARK_ADMIN_KEY", "BULWARK_DATA_KEY"]);
  const names = [
    ...Object.keys(secret.stringData as Doc),
    ...(container.env as Doc[]).map((e) => e.name as string),
  ].filter((n) => n.startsWith("BULWARK_"));
  assert.ok(names.length >= 4);
  for (const n of names) assert.ok(known.has(n), `${n} is read by Bulwark`);
  assert.equal(
    (container.envFrom as Doc[])[0]!.secretRef.name,
    "bulwark-secrets",
    "the Secret reaches the container",
  );
  // Every secret key a container asks for by name exists.
  for (const { doc } of all.filter((m) => m.doc.kind === "Deployment")) {
    for (const c of doc.spec.template.spec.containers as Doc[]) {
      for (const e of (c.env ?? []) as Doc[]) {
        const ref = e.valueFrom?.secretKeyRef;
        if (ref) assert.ok(ref.key in secret.stringData, `${ref.name}.${ref.key}`);
      }
    }
  }
});

test("the HPA, the adapter rule and KEDA name Bulwark's queue gauge and the Deployment", async () => {
  const exposed = await new Metrics({
    models: () => [],
    resources: () => undefined,
    guardLevel: () => 0,
    degradationSteps: () => [],
    alerts: () => [],
  }).render();
  const declared = new Set([...exposed.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => m[1]!));
  const isGauge = (name: string) => new RegExp(`^# TYPE ${name} gauge$`, "m").test(exposed);

  const hpa = find("HorizontalPodAutoscaler", "bulwark");
  assert.deepEqual(
    [hpa.spec.scaleTargetRef.kind, hpa.spec.scaleTargetRef.name],
    ["Deployment", "bulwark"],
  );
  const hpaMetric = hpa.spec.metrics[0].pods.metric.name as string;
  assert.ok(declared.has(hpaMetric), `${hpaMetric} is a Bulwark metric`);
  assert.ok(isGauge(hpaMetric), "the HPA follows a gauge");

  const adapter = find("ConfigMap", "prometheus-adapter-config");
  const rules = (parseAllDocuments(adapter.data["config.yaml"])[0]!.toJS() as Doc).rules as Doc[];
  const rule = rules.find((r) => r.name.as === hpaMetric);
  assert.ok(rule, "the adapter serves the metric the HPA asks for");
  const series = /^(\w+)\{/.exec(rule.seriesQuery)![1]!;
  assert.ok(declared.has(series), `${series} is a Bulwark metric`);
  assert.match(hpaMetric, new RegExp(rule.name.matches));
  assert.deepEqual(Object.keys(rule.resources.overrides).sort(), ["namespace", "pod"]);

  const keda = find("ScaledObject", "bulwark");
  assert.equal(keda.spec.scaleTargetRef.name, "bulwark");
  const query = keda.spec.triggers[0].metadata.query as string;
  const named: string[] = query.match(/bulwark_\w+/g) ?? [];
  for (const name of named) {
    assert.ok(declared.has(name), `${name} in the KEDA query is a Bulwark metric`);
  }
  assert.ok(named.includes(hpaMetric), "the same gauge as the HPA");
  assert.equal(keda.spec.minReplicaCount, hpa.spec.minReplicas);
  assert.equal(keda.spec.maxReplicaCount, hpa.spec.maxReplicas);

  const pdb = find("PodDisruptionBudget", "bulwark");
  assert.deepEqual(pdb.spec.selector.matchLabels, deployment.spec.selector.matchLabels);
  assert.ok(pdb.spec.maxUnavailable < hpa.spec.minReplicas, "a drain leaves a gateway serving");
});
