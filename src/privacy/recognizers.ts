/**
 * PII recognizers: each finds spans of one kind in a text. Patterns find candidates; check
 * digits and parsers reject near misses (a card number that fails Luhn, an ID with a wrong
 * check character, 999.1.1.1).
 */
import { isIPv4, isIPv6 } from "node:net";
import { findPhoneNumbersInText } from "libphonenumber-js";
import { luhnValid, prcIdValid } from "./checks.js";

export type PiiKind = "API_KEY" | "TOKEN" | "EMAIL" | "ID_NUMBER" | "CARD" | "IP" | "PHONE";

export interface Span {
  start: number;
  end: number;
  kind: PiiKind;
}

type Recognizer = (text: string) => Span[];

/**
 * A recognizer over one pattern. The global RegExp is compiled once and rewound on each call
 * (calls never interleave: a scan runs to its end synchronously). `mayMatch` is a cheap test
 * that skips the scan of a text that cannot hold a match (no digit, no "@").
 */
function byRegex(
  re: RegExp,
  kind: PiiKind,
  mayMatch: (text: string) => boolean,
  accept: (m: RegExpExecArray) => boolean = () => true,
  group = 0,
): Recognizer {
  const g = new RegExp(re.source, re.flags.includes("g") ? re.flags : re.flags + "g");
  return (text) => {
    const out: Span[] = [];
    if (!mayMatch(text)) return out;
    g.lastIndex = 0;
    for (let m = g.exec(text); m; m = g.exec(text)) {
      if (m[0] === "") {
        g.lastIndex++;
        continue;
      }
      if (!accept(m)) continue;
      const part = m[group]!;
      const start = m.index + m[0].indexOf(part);
      out.push({ start, end: start + part.length, kind });
    }
    return out;
  };
}

const DIGIT = /\d/;
const hasDigit = (text: string) => DIGIT.test(text);

const apiKeys = byRegex(
  /(?<![A-Za-z0-9_])(?:bwk_[0-9a-z]{12}_[0-9A-Za-z]{36}|sk-[A-Za-z0-9_-]{16,}|bwk_[0-9A-Za-z_]{16,})(?![A-Za-z0-9])/,
  "API_KEY",
  (text) => text.includes("bwk_") || text.includes("sk-"),
);
const bearer = byRegex(
  /\bBearer\s+([A-Za-z0-9._~+/=-]{8,})/i,
  "TOKEN",
  (text) => /bearer/i.test(text),
  () => true,
  1,
);
const email = byRegex(
  /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}/,
  "EMAIL",
  (text) => text.includes("@"),
);
const prcId = byRegex(/(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])/, "ID_NUMBER", hasDigit, (m) =>
  prcIdValid(m[0]),
);
// Not inside a longer word: a run of digits within a hex checksum is not a card number.
const card = byRegex(
  /(?<![0-9A-Za-z-])\d(?:[ -]?\d){12,18}(?![0-9A-Za-z])/,
  "CARD",
  hasDigit,
  (m) => luhnValid(m[0].replace(/[ -]/g, "")),
);
const ipv6 = byRegex(
  /(?<![0-9A-Fa-f:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{0,4}|\d+\.\d+\.\d+\.\d+)(?![0-9A-Fa-f:])/,
  "IP",
  (text) => text.includes(":"),
  (m) => m[0].length > 2 && isIPv6(m[0]),
);
const ipv4 = byRegex(
  /(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d]|\.\d)/,
  "IP",
  (text) => text.includes("."),
  (m) => isIPv4(m[0]),
);
// PRC mobile numbers: 1[3-9] and 9 more digits, with or without +86 / 86.
const prcMobile = byRegex(
  /(?<![0-9A-Za-z+])(?:(?:\+|00)?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?![0-9A-Za-z])/,
  "PHONE",
  hasDigit,
);

/** International numbers written with their country code (+44 20 7946 0958). */
const intlPhone: Recognizer = (text) => {
  if (!text.includes("+")) return [];
  return findPhoneNumbersInText(text).map((f) => ({
    start: f.startsAt,
    end: f.endsAt,
    kind: "PHONE" as const,
  }));
};

/** In priority order: when spans overlap, the earlier recognizer wins. */
const RECOGNIZERS: Recognizer[] = [
  apiKeys,
  bearer,
  email,
  prcId,
  card,
  ipv6,
  ipv4,
  prcMobile,
  intlPhone,
];

/** Every PII span in `text`, sorted and not overlapping. */
export function findPii(text: string): Span[] {
  const accepted: Span[] = [];
  for (const recognize of RECOGNIZERS) {
    for (const span of recognize(text)) {
      if (!accepted.some((a) => span.start < a.end && a.start < span.end)) accepted.push(span);
    }
  }
  return accepted.sort((a, b) => a.start - b.start);
}
