/**
 * Finds stop strings in streamed text. Text that could be the start of a stop string is held
 * back until it either completes the stop string (then it and everything after it are dropped)
 * or stops matching (then it is released). This is how a stop string split across tokens is still
 * found, and why a client never sees half of one.
 */
export interface StopResult {
  /** Text safe to send now. */
  text: string;
  /** True when a stop string was found; the generation should end. */
  stopped: boolean;
}

export class StopMatcher {
  private pending = "";
  private readonly maxLength: number;

  constructor(private readonly stops: readonly string[]) {
    this.stops = stops.filter((s) => s.length > 0);
    this.maxLength = this.stops.reduce((m, s) => Math.max(m, s.length), 0);
  }

  /** Feeds new text; returns what can be released. */
  push(text: string): StopResult {
    if (this.stops.length === 0) return { text, stopped: false };
    this.pending += text;
    let cut = -1;
    for (const stop of this.stops) {
      const at = this.pending.indexOf(stop);
      if (at !== -1 && (cut === -1 || at < cut)) cut = at;
    }
    if (cut !== -1) {
      const out = this.pending.slice(0, cut);
      this.pending = "";
      return { text: out, stopped: true };
    }
    const hold = this.partialSuffixLength();
    const out = this.pending.slice(0, this.pending.length - hold);
    this.pending = this.pending.slice(this.pending.length - hold);
    return { text: out, stopped: false };
  }

  /** The text held back now: the start of a possible stop string, not released yet. */
  get held(): string {
    return this.pending;
  }

  /** Releases held text at the end of a generation that did not stop on a string. */
  flush(): string {
    const out = this.pending;
    this.pending = "";
    return out;
  }

  /** Length of the longest suffix of pending that is a proper prefix of some stop string. */
  private partialSuffixLength(): number {
    const limit = Math.min(this.pending.length, this.maxLength - 1);
    for (let len = limit; len > 0; len--) {
      const suffix = this.pending.slice(this.pending.length - len);
      if (this.stops.some((s) => s.startsWith(suffix))) return len;
    }
    return 0;
  }
}
