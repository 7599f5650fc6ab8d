import { test } from "node:test";
import assert from "node:assert/strict";
import { z } from "zod";
import { formatParam, parseBody } from "../../../src/gateway/shared/validation.js";
import { measureJsonSchema } from "../../../src/gateway/shared/json-schema-bounds.js";
import { BulwarkError } from "../../../src/errors/index.js";

const schema = z.strictObject({
  model: z.string(),
  messages: z.array(z.strictObject({ role: z.string(), content: z.string() })),
  temperature: z.number().max(2).optional(),
});

function codeOf(fn: () => unknown): { code: string; param: string | null } {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof BulwarkError);
    return { code: err.code, param: err.param };
  }
  throw new Error("expected a BulwarkError");
}

test("param paths are written the OpenAI way", () => {
  assert.equal(formatParam(["messages", 0, "content"]), "messages[0].content");
  assert.equal(
    formatParam(["response_format", "json_schema", "schema"]),
    "response_format.json_schema.schema",
  );
});

test("parseBody names the missing, the wrong and the unknown field", () => {
  assert.deepEqual(
    codeOf(() => parseBody(schema, { messages: [] })),
    { code: "missing_parameter", param: "model" },
  );
  assert.deepEqual(
    codeOf(() => parseBody(schema, { model: "m", messages: [], temperature: 3 })),
    {
      code: "invalid_request",
      param: "temperature",
    },
  );
  assert.deepEqual(
    codeOf(() => parseBody(schema, { model: "m", messages: [{ role: "user", content: 1 }] })),
    {
      code: "invalid_request",
      param: "messages[0].content",
    },
  );
  assert.deepEqual(
    codeOf(() => parseBody(schema, { model: "m", messages: [], functions: [] })),
    {
      code: "unsupported_parameter",
      param: "functions",
    },
  );
  assert.deepEqual(
    codeOf(() => parseBody(schema, [1, 2])),
    { code: "invalid_request", param: null },
  );
});

test("measureJsonSchema counts bytes, depth and properties", () => {
  const m = measureJsonSchema({
    type: "object",
    properties: {
      a: { type: "object", properties: { b: { type: "string" }, c: { type: "number" } } },
    },
  });
  assert.equal(m.properties, 3);
  assert.equal(m.depth, 5);
  assert.ok(m.bytes > 50);
});
