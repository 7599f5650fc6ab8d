/**
 * Masking: PII spans become `[KIND]` labels (logs, irreversible policies) or numbered
 * placeholders `[KIND_n]` that a vault can turn back into the originals (reversible policy).
 */
import { findPii, type Span } from "./recognizers.js";

function replaceSpans(
  text: string,
  spans: Span[],
  label: (s: Span, value: string) => string,
): string {
  let out = "";
  let at = 0;
  for (const s of spans) {
    out += text.slice(at, s.start) + label(s, text.slice(s.start, s.end));
    at = s.end;
  }
  return out + text.slice(at);
}

/** Replaces every PII span with its kind: "mail me at [EMAIL]". */
export function maskText(text: string): string {
  if (!text) return text;
  const spans = findPii(text);
  return spans.length === 0 ? text : replaceSpans(text, spans, (s) => `[${s.kind}]`);
}

/**
 * Fields kept as they are: the client address an operator needs to investigate and ban (the
 * access log's `ip`), and the server's own listening addresses.
 */
const KEEP = new Set(["ip", "url", "adminUrl"]);

/** Masks every string inside a JSON-like value (for log records), but the KEEP fields. */
export function maskValue<T>(value: T): T {
  if (typeof value === "string") return maskText(value) as T;
  if (Array.isArray(value)) return value.map((v) => maskValue(v)) as T;
  if (value && typeof value === "object" && !(value instanceof Error)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = KEEP.has(k) && typeof v === "string" ? v : maskValue(v);
    }
    return out as T;
  }
  return value;
}

/** Placeholders for one request: the same value gets the same placeholder. */
export class MaskVault {
  private readonly byValue = new Map<string, string>();
  private readonly byPlaceholder = new Map<string, string>();
  private readonly counts = new Map<string, number>();

  /** Masks `text` with numbered placeholders the vault can restore. */
  mask(text: string): string {
    const spans = findPii(text);
    return replaceSpans(text, spans, (s, value) => {
      let ph = this.byValue.get(value);
      if (!ph) {
        const n = (this.counts.get(s.kind) ?? 0) + 1;
        this.counts.set(s.kind, n);
        ph = `[${s.kind}_${n}]`;
        this.byValue.set(value, ph);
        this.byPlaceholder.set(ph, value);
      }
      return ph;
    });
  }

  /** Puts the originals back in place of the placeholders. */
  restore(text: string): string {
    if (this.byPlaceholder.size === 0) return text;
    return text.replace(/\[[A-Z_]+_\d+\]/g, (ph) => this.byPlaceholder.get(ph) ?? ph);
  }
}
