/**
 * Output filters for generated text that arrives in pieces. A PII item or a placeholder can be
 * split across two pieces, so each filter holds back the tail that could still grow into one,
 * and lets it go at the end.
 */
import { findPii } from "./recognizers.js";
import { maskText, type MaskVault } from "./masker.js";

export interface TextFilter {
  /** Takes the next piece; returns what can be sent now (maybe ""). */
  push(text: string): string;
  /** Returns everything still held. */
  end(): string;
  /** Drops what is held (the generation restarted elsewhere). */
  reset(): void;
}

/** Longer than any recognized item that can sit at the end of a piece (a key is 54 chars). */
const HOLD = 96;

/** Masks PII in streamed output. */
export class MaskingFilter implements TextFilter {
  private buffer = "";

  push(text: string): string {
    this.buffer += text;
    let cut = this.buffer.length - HOLD;
    if (cut <= 0) return "";
    for (const span of findPii(this.buffer)) {
      if (span.start < cut && span.end >= cut) cut = span.start;
    }
    const out = this.buffer.slice(0, cut);
    this.buffer = this.buffer.slice(cut);
    return maskText(out);
  }

  end(): string {
    const out = maskText(this.buffer);
    this.buffer = "";
    return out;
  }

  reset(): void {
    this.buffer = "";
  }

  fork(): MaskingFilter {
    return new MaskingFilter();
  }
}

/** Restores a vault's placeholders in streamed output. */
export class RestoringFilter implements TextFilter {
  private buffer = "";

  constructor(private readonly vault: MaskVault) {}

  push(text: string): string {
    this.buffer += text;
    // Hold from an unclosed "[" that could still become a placeholder like [EMAIL_12].
    const open = this.buffer.lastIndexOf("[");
    const hold =
      open >= 0 && !this.buffer.includes("]", open) && this.buffer.length - open <= 24
        ? open
        : this.buffer.length;
    const out = this.buffer.slice(0, hold);
    this.buffer = this.buffer.slice(hold);
    return this.vault.restore(out);
  }

  end(): string {
    const out = this.vault.restore(this.buffer);
    this.buffer = "";
    return out;
  }

  reset(): void {
    this.buffer = "";
  }

  fork(): RestoringFilter {
    return new RestoringFilter(this.vault);
  }
}
