import { test } from "node:test";
import assert from "node:assert/strict";
import { BulwarkError, toClientError } from "../../../src/errors/index.js";
import { EngineJobError } from "../../../src/engine/index.js";

test("a catalog error passes through unchanged", () => {
  const err = new BulwarkError("queue_full", "full", { retryAfterSeconds: 2 });
  assert.equal(toClientError(err), err);
});

test("an engine worker's error keeps its catalog code and message", () => {
  const err = toClientError(new EngineJobError("context_length_exceeded", "prompt of 900 tokens"));
  assert.equal(err.code, "context_length_exceeded");
  assert.equal(err.message, "prompt of 900 tokens");
  assert.equal(err.status, 400);
});

test("an engine internal_error or an unknown code gets the generic message", () => {
  for (const err of [
    new EngineJobError("internal_error", "/models/x.gguf: bad tensor"),
    new EngineJobError("ENOENT", "/models/x.gguf missing"),
  ]) {
    const mapped = toClientError(err);
    assert.equal(mapped.code, "internal_error");
    assert.ok(!mapped.message.includes("/models"));
  }
});

test("the HTTP framework's body errors map to their catalog codes", () => {
  const framework = (code: string, statusCode = 400) =>
    Object.assign(new Error(`framework ${code}`), { code, statusCode });
  assert.equal(toClientError(framework("FST_ERR_CTP_INVALID_JSON_BODY")).code, "invalid_json");
  assert.equal(toClientError(framework("FST_ERR_CTP_EMPTY_JSON_BODY")).code, "invalid_json");
  assert.equal(toClientError(framework("FST_ERR_CTP_BODY_TOO_LARGE", 413)).code, "body_too_large");
  assert.equal(
    toClientError(framework("FST_ERR_CTP_INVALID_MEDIA_TYPE", 415)).code,
    "unsupported_media_type",
  );
  const other = Object.assign(new Error("Unexpected token } in JSON"), {
    code: "FST_OTHER",
    statusCode: 400,
  });
  assert.equal(toClientError(other).code, "invalid_json");
});

test("anything else becomes internal_error with the cause kept for the log", () => {
  const cause = new TypeError("x is undefined");
  const err = toClientError(cause);
  assert.equal(err.code, "internal_error");
  assert.equal(err.cause, cause);
  assert.equal(toClientError("a string").code, "internal_error");
  assert.equal(toClientError(undefined).code, "internal_error");
});
