import { test } from "node:test";
import assert from "node:assert/strict";
import { measureJsonSchema } from "../../../src/gateway/shared/json-schema-bounds.js";

test("a schema nested 5,000 deep is measured without recursion", () => {
  let schema: unknown = { type: "string" };
  for (let i = 0; i < 5000; i++) schema = { type: "object", properties: { a: schema } };
  const m = measureJsonSchema(schema);
  assert.equal(m.depth, 10_001);
  assert.equal(m.bytes, Infinity);
  assert.equal(m.properties, 5000);
  const small = measureJsonSchema({ type: "object", properties: { a: { type: "string" } } });
  assert.deepEqual(small, { bytes: 54, depth: 3, properties: 1 });
});
