import { test } from "node:test";
import assert from "node:assert/strict";
import {
  checkBinding,
  checkLadderModels,
  checkModelsToServe,
  ConfigError,
  invalidField,
  loadConfig,
} from "../../../src/config/index.js";

test("a cross-field check names the field in the one 'invalid configuration' shape", () => {
  const err = invalidField("guards.ladder[0].model", '"x" is not a served model');
  assert.ok(err instanceof ConfigError);
  assert.equal(
    err.message,
    'invalid configuration:\n  guards.ladder[0].model: "x" is not a served model',
  );
  assert.deepEqual(err.problems, ['guards.ladder[0].model: "x" is not a served model']);
});

test("auth off on a public address is refused unless --insecure; loopback is fine", () => {
  const open = loadConfig({
    env: {},
    overrides: { security: { auth: false }, server: { host: "0.0.0.0" } },
  });
  assert.throws(() => checkBinding(open, false), /invalid configuration:\n {2}security\.auth: /);
  checkBinding(open, true);
  const local = loadConfig({
    env: {},
    overrides: { security: { auth: false }, server: { host: "::1" } },
  });
  checkBinding(local, false);
});

test("a ladder must name a served model; a start needs a model or the demo one", () => {
  const config = loadConfig({ env: {} });
  assert.throws(
    () => checkLadderModels([{ model: "b" }] as never, ["a"]),
    /guards\.ladder\[0\]\.model: "b" is not a served model/,
  );
  checkLadderModels([{ model: "a" }] as never, ["a"]);
  assert.throws(() => checkModelsToServe(config, false), /models: no model to serve/);
  checkModelsToServe(config, true);
});
