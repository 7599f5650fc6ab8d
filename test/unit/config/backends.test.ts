import { test } from "node:test";
import assert from "node:assert/strict";
import { tmpdir } from "node:os";
import { ConfigError, loadConfig, planThreads } from "../../../src/config/index.js";

const load = (models: unknown[], env: Record<string, string> = {}) =>
  loadConfig({ env: { HOME: "/home/x", ...env }, cwd: tmpdir(), overrides: { models } });

test("a model served by backends alone: ${VAR} keys from the environment, names, no local worker", () => {
  const config = load(
    [
      {
        name: "llama3",
        backends: [
          {
            url: "http://gpu-1:8000/v1/",
            model: "meta/Llama-3-8B",
            apiKey: "${GPU1_KEY}",
            slots: 64,
          },
          { url: "https://gpu-2:8000/v1", name: "second", ca: "~/ca.pem" },
        ],
      },
    ],
    { GPU1_KEY: "sk-secret" },
  );
  const [a, b] = config.models[0]!.backends!;
  assert.equal(a!.apiKey, "sk-secret");
  assert.equal(a!.name, "gpu-1:8000");
  assert.equal(a!.url, "http://gpu-1:8000/v1");
  assert.equal(a!.slots, 64);
  assert.equal(b!.name, "second");
  assert.equal(b!.ca, "/home/x/ca.pem");
  assert.equal(b!.failures, 3);
  const plan = planThreads([{ entry: config.models[0]! }], config.engine, 2);
  assert.equal(plan[0]!.replicas, 0);
});

test("a missing variable, a model with neither path nor backends, and duplicate names are refused", () => {
  assert.throws(
    () => load([{ name: "m", backends: [{ url: "http://h:1/v1", apiKey: "${NOPE}" }] }]),
    (err: Error) =>
      err instanceof ConfigError && /apiKey: environment variable NOPE/.test(err.message),
  );
  assert.throws(() => load([{ name: "m" }]), /needs a path or backends/);
  assert.throws(
    () => load([{ name: "m", backends: [{ url: "http://h:1/v1" }, { url: "http://h:1/v2" }] }]),
    /duplicate backend name "h:1"/,
  );
  assert.throws(
    () => load([{ name: "m", backends: [{ url: "http://h:1/v1", cert: "/c.pem" }] }]),
    /cert and key go together/,
  );
  assert.throws(() => load([{ name: "m", backends: [{ url: "ftp://h/v1" }] }]), /http/);
});
