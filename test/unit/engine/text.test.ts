import { test } from "node:test";
import assert from "node:assert/strict";
import {
  IncrementalDetokenizer,
  MAX_HELD_TOKENS,
  StopMatcher,
} from "../../../src/engine/text/index.js";

/** A byte-level tokenizer: token n is byte n, decoded the way llama.cpp's strings are (lossy UTF-8). */
const decode = (tokens: readonly number[]) => new TextDecoder().decode(Uint8Array.from(tokens));
const bytes = (s: string) => [...Buffer.from(s, "utf8")];

function stream(tokens: number[]): { parts: string[]; text: string } {
  const d = new IncrementalDetokenizer(decode);
  const parts = tokens.map((t) => d.push(t));
  parts.push(d.flush());
  return { parts, text: parts.join("") };
}

test("a character split over byte tokens is held back until it completes", () => {
  const tokens = bytes("a€b"); // € is 3 bytes
  const { parts, text } = stream(tokens);
  assert.equal(text, "a€b");
  assert.deepEqual(parts.slice(0, 5), ["a", "", "", "€", "b"]);
  assert.ok(parts.every((p) => !p.includes("\uFFFD")));
});

test("bytes that never form UTF-8 become U+FFFD and the text goes on", () => {
  const tokens = [0x68, 0xe2, 0x82, 0x41, 0x42, 0x43]; // "h", a broken 3-byte start, then ABC
  const { text } = stream(tokens);
  assert.ok(text.startsWith("h"));
  assert.ok(text.includes("\uFFFD"));
  assert.ok(text.endsWith("ABC"));
});

test("a lone continuation byte is released after at most MAX_HELD_TOKENS tokens", () => {
  const d = new IncrementalDetokenizer(decode);
  const parts = [0x80, 0x80, 0x80, 0x80, 0x80].map((t) => d.push(t));
  const firstRelease = parts.findIndex((p) => p.length > 0);
  assert.ok(firstRelease !== -1 && firstRelease < MAX_HELD_TOKENS, JSON.stringify(parts));
});

test("prompt context keeps the first generated token's leading space", () => {
  // A SentencePiece-like decoder that drops the leading space of a window, as llama.cpp does.
  const pieces: Record<number, string> = { 1: " Once", 2: " upon", 3: " a", 4: " time" };
  const spm = (tokens: readonly number[]) =>
    tokens
      .map((t) => pieces[t])
      .join("")
      .replace(/^ /, "");
  const d = new IncrementalDetokenizer(spm, [1, 2]);
  assert.equal(d.push(3) + d.push(4) + d.flush(), " a time");
});

test("stop strings split across pushes are found and never sent", () => {
  const m = new StopMatcher(["STOP", "\n\n"]);
  const out = [m.push("Hello S"), m.push("TO"), m.push("P world")];
  assert.deepEqual(
    out.map((r) => r.text),
    ["Hello ", "", ""],
  );
  assert.deepEqual(
    out.map((r) => r.stopped),
    [false, false, true],
  );
});

test("held text that stops matching is released", () => {
  const m = new StopMatcher(["STOP"]);
  assert.deepEqual(m.push("ST"), { text: "", stopped: false });
  assert.deepEqual(m.push("ar"), { text: "STar", stopped: false });
  assert.equal(m.push("S").text, "");
  assert.equal(m.flush(), "S");
});

test("the earliest of several stop strings wins", () => {
  const m = new StopMatcher(["world", "lo w"]);
  assert.deepEqual(m.push("hello world"), { text: "hel", stopped: true });
});

test("no stop strings: text passes straight through", () => {
  const m = new StopMatcher([]);
  assert.deepEqual(m.push("anything"), { text: "anything", stopped: false });
});
