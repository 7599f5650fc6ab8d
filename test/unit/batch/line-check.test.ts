import { test } from "node:test";
import assert from "node:assert/strict";
import { BulwarkError } from "../../../src/errors/index.js";
import { InputFileChecker, type BodyParser } from "../../../src/batch/index.js";
import { batchBodyParsers } from "../../../src/gateway/index.js";

const checker = (maxRequests = 3) =>
  new InputFileChecker({
    maxRequests,
    parsers: batchBodyParsers,
    modelServed: (name) => name === "m",
  });

const line = (
  id: string,
  body: object = { model: "m", messages: [{ role: "user", content: "x" }] },
  url = "/v1/chat/completions",
) => JSON.stringify({ custom_id: id, method: "POST", url, body });

function refused(c: InputFileChecker, text: string): BulwarkError {
  try {
    c.line(text);
  } catch (err) {
    assert.ok(err instanceof BulwarkError);
    assert.equal(err.code, "invalid_file");
    return err;
  }
  assert.fail(`line accepted: ${text}`);
}

test("a valid file: its requests, model and endpoint; blank lines are skipped but counted", () => {
  const c = checker();
  c.line(line("a"));
  c.line("");
  c.line(line("b"));
  assert.deepEqual(c.finish(), { requests: 2, model: "m", endpoint: "/v1/chat/completions" });
});

test("each refusal names its line", () => {
  const cases: [string[], RegExp][] = [
    [["{"], /^Line 1: not valid JSON/],
    [["[1]"], /^Line 1: must be a JSON object/],
    [[line("a"), line("a")], /^Line 2: custom_id "a" is repeated/],
    [
      [line("a"), line("b", { model: "other", messages: [{ role: "user", content: "x" }] })],
      /^Line 2: every line .* one model/,
    ],
    [
      [line("a", { model: "nope", messages: [{ role: "user", content: "x" }] })],
      /^Line 1: the model nope is not served/,
    ],
    [
      [line("a"), line("b", { model: "m", prompt: "x" }, "/v1/completions")],
      /^Line 2: every line .* one url/,
    ],
    [[line("a", { model: "m", messages: [], stream: true })], /^Line 1: /],
    [
      [line("a", { model: "m", messages: [{ role: "user", content: "x" }], stream: true })],
      /^Line 1: stream is not supported/,
    ],
    [
      [line("a", { model: "m", messages: [{ role: "user", content: "x" }], temperature: "hot" })],
      /^Line 1: .*temperature/,
    ],
    [
      [JSON.stringify({ custom_id: "a", method: "GET", url: "/v1/chat/completions", body: {} })],
      /^Line 1: method/,
    ],
    [
      [JSON.stringify({ custom_id: "a", method: "POST", url: "/v1/models", body: {} })],
      /^Line 1: url must be/,
    ],
    [
      [JSON.stringify({ custom_id: "", method: "POST", url: "/v1/chat/completions", body: {} })],
      /^Line 1: custom_id/,
    ],
    [[line("a"), line("b"), line("c"), line("d")], /^Line 4: a batch holds at most 3 requests/],
  ];
  for (const [lines, message] of cases) {
    const c = checker();
    for (const l of lines.slice(0, -1)) c.line(l);
    const err = refused(c, lines.at(-1)!);
    assert.match(err.message, message);
  }
});

test("the body's field is named as param, under body.", () => {
  const c = checker();
  const err = refused(
    c,
    line("a", { model: "m", messages: [{ role: "user", content: "x" }], temperature: "hot" }),
  );
  assert.equal(err.param, "body.temperature");
});

test("a file with no request is refused", () => {
  assert.throws(() => checker().finish(), /no request/);
});

test("the body parser is the live endpoint's, not a copy (an injected one is what runs)", () => {
  const seen: unknown[] = [];
  const parser: BodyParser = (b) => {
    seen.push(b);
    return { model: "m" };
  };
  const c = new InputFileChecker({
    maxRequests: 1,
    parsers: {
      "/v1/chat/completions": parser,
      "/v1/completions": parser,
      "/v1/embeddings": parser,
    },
    modelServed: () => true,
  });
  c.line(JSON.stringify({ custom_id: "a", method: "POST", url: "/v1/embeddings", body: { x: 1 } }));
  assert.deepEqual(seen, [{ x: 1 }]);
});

test("OpenAI's default limit: the 50,001st request of a file is refused", () => {
  const c = checker(50_000);
  for (let i = 0; i < 50_000; i++) c.line(line(`r${i}`));
  const err = refused(c, line("r50000"));
  assert.match(err.message, /^Line 50001: a batch holds at most 50000 requests/);
});
