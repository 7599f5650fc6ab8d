import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { buildTestGateway, type TestGateway } from "../helpers/gateway.js";

let gateway: TestGateway;

before(async () => {
  gateway = await buildTestGateway({
    models: [{ name: "fake", path: "/models/fake.gguf" }],
    engine: { contextSize: 64 },
    server: { bodyLimit: 1024 * 1024 },
  });
});
after(() => gateway.close());

test("embedding token ids outside the vocabulary or over the context are 400s", async () => {
  const vocabulary = 0x110000 + 2;
  const cases: [unknown, string, string][] = [
    [[vocabulary], "invalid_request", "input"],
    [[[1, 2], [vocabulary + 5]], "invalid_request", "input[1]"],
    [[Array(65).fill(1)], "context_length_exceeded", "input"],
  ];
  for (const [input, code, param] of cases) {
    const res = await gateway.request("POST", "/v1/embeddings", { model: "fake", input });
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json.error.code, code);
    assert.equal(res.json.error.param, param);
  }
});

test("a response-format schema nested 5,000 deep is a 400, not a stack overflow", async () => {
  const deep =
    '{"type":"object","properties":{"a":'.repeat(5000) + '{"type":"string"}' + "}}".repeat(5000);
  const res = await gateway.request(
    "POST",
    "/v1/chat/completions",
    `{"model":"fake","messages":[{"role":"user","content":"hi"}],"response_format":` +
      `{"type":"json_schema","json_schema":{"name":"s","schema":${deep}}}}`,
    { "content-type": "application/json" },
  );
  assert.equal(res.status, 400, res.text);
  assert.equal(res.json.error.code, "input_too_large");
  assert.equal(res.json.error.param, "response_format.json_schema.schema");
});
