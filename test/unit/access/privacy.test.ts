import { test } from "node:test";
import assert from "node:assert/strict";
import {
  findPii,
  luhnValid,
  maskText,
  maskValue,
  MaskingFilter,
  MaskVault,
  prcIdValid,
  RestoringFilter,
} from "../../../src/privacy/index.js";
import { generateKey } from "../../../src/auth/index.js";

const kinds = (text: string) => findPii(text).map((s) => `${s.kind}:${text.slice(s.start, s.end)}`);

test("check digits: Luhn and the PRC ID's ISO 7064 MOD 11-2", () => {
  assert.ok(luhnValid("4111111111111111"));
  assert.ok(!luhnValid("4111111111111112"));
  assert.ok(prcIdValid("11010519491231002X"));
  assert.ok(prcIdValid("11010519491231002x"));
  assert.ok(!prcIdValid("110105194912310021"), "wrong check character");
  assert.ok(!prcIdValid("110105194913310024"), "month 13");
});

test("true positives: each recognizer finds its kind", () => {
  const key = generateKey().full;
  assert.deepEqual(kinds("write to alice@example.com"), ["EMAIL:alice@example.com"]);
  assert.deepEqual(kinds("call +1 213 373 4253 today"), ["PHONE:+1 213 373 4253"]);
  assert.deepEqual(kinds("手机 13812345678 或 +86 139 1234 5678"), [
    "PHONE:13812345678",
    "PHONE:+86 139 1234 5678",
  ]);
  assert.deepEqual(kinds("card 4111 1111 1111 1111."), ["CARD:4111 1111 1111 1111"]);
  assert.deepEqual(kinds("card 5500-0000-0000-0004"), ["CARD:5500-0000-0000-0004"]);
  assert.deepEqual(kinds("身份证 11010519491231002X"), ["ID_NUMBER:11010519491231002X"]);
  assert.deepEqual(kinds("from 192.168.1.20, via 2001:db8::ff00:42:8329"), [
    "IP:192.168.1.20",
    "IP:2001:db8::ff00:42:8329",
  ]);
  assert.deepEqual(kinds(`key ${key}`), [`API_KEY:${key}`]);
  assert.deepEqual(kinds("sk-abcdefghijklmnopqrstu1234"), ["API_KEY:sk-abcdefghijklmnopqrstu1234"]);
  assert.deepEqual(kinds("Authorization: Bearer eyJhbGciOi.J9.x"), ["TOKEN:eyJhbGciOi.J9.x"]);
});

test("near misses are left alone", () => {
  for (const text of [
    "card 4111 1111 1111 1112", // fails Luhn
    "id 110105194912310021", // wrong check character
    "version 1.2.3.4.5 and 999.1.1.1", // not IPv4
    "at 12:30:45 on 2024-01-02", // times and dates
    "order 12345678901", // 11 digits, not a mobile prefix
    "mobile 12812345678", // 12x is not a PRC mobile prefix
    "user@localhost", // no domain
    "phone 2133734253 without a country code",
    // digit runs inside a sha256 (one is a Luhn-valid 14-digit run)
    "sha256 270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d",
    "hash a13812345678b",
  ]) {
    assert.deepEqual(kinds(text), [], text);
  }
});

test("masking replaces spans with their kind, also inside objects, keeping the client ip field", () => {
  assert.equal(maskText("a@b.io wrote from 10.0.0.1"), "[EMAIL] wrote from [IP]");
  assert.deepEqual(maskValue({ ip: "10.0.0.1", path: "/u/a@b.io", n: 3, list: ["13812345678"] }), {
    ip: "10.0.0.1",
    path: "/u/[EMAIL]",
    n: 3,
    list: ["[PHONE]"],
  });
});

test("reversible masking restores placeholders, also across streamed pieces", () => {
  const vault = new MaskVault();
  const masked = vault.mask("alice@example.com and bob@example.com, again alice@example.com");
  assert.equal(masked, "[EMAIL_1] and [EMAIL_2], again [EMAIL_1]");
  assert.equal(vault.restore("Hi [EMAIL_2]! [EMAIL_9]"), "Hi bob@example.com! [EMAIL_9]");
  const filter = new RestoringFilter(vault);
  const pieces = ["Dear [EM", "AIL_", "1], see [", "EMAIL_2]."];
  const out = pieces.map((p) => filter.push(p)).join("") + filter.end();
  assert.equal(out, "Dear alice@example.com, see bob@example.com.");
});

test("the streaming masker never lets a PII item split across pieces through", () => {
  const text =
    "Contact alice@example.com or 4111 1111 1111 1111 please. " + "x".repeat(200) + " 13812345678";
  for (const size of [1, 3, 7, 50]) {
    const filter = new MaskingFilter();
    let out = "";
    for (let i = 0; i < text.length; i += size) out += filter.push(text.slice(i, i + size));
    out += filter.end();
    assert.equal(out, maskText(text), `pieces of ${size}`);
    assert.ok(!out.includes("alice@") && !out.includes("4111") && !out.includes("1381"));
  }
});
