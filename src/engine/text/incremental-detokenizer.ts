/**
 * Turns a stream of token ids into a stream of text deltas that never split a UTF-8 character.
 *
 * Detokenizing token by token breaks in two ways: a character whose bytes span several byte-level
 * tokens decodes to U+FFFD halves, and SentencePiece drops the leading space of the first token of
 * a window. The algorithm (the one vLLM and Hugging Face use) decodes a short window twice, with
 * and without the newest tokens, and emits only the difference, and only once the window no
 * longer ends in U+FFFD. A character that never completes is released as U+FFFD after
 * MAX_HELD_TOKENS tokens, so bytes that never form valid UTF-8 become U+FFFD and the output goes
 * on: it is never an error.
 */
export type Detokenize = (tokens: readonly number[]) => string;

/** UTF-8 needs at most 4 bytes a character, and every byte-level token carries at least one. */
export const MAX_HELD_TOKENS = 4;

const REPLACEMENT = "\uFFFD";

export class IncrementalDetokenizer {
  private readonly tokens: number[];
  private prefixOffset = 0;
  private readOffset: number;

  /**
   * @param detokenize decodes a window of tokens
   * @param context the last prompt tokens, so the first generated token keeps its leading space
   */
  constructor(
    private readonly detokenize: Detokenize,
    context: readonly number[] = [],
  ) {
    this.tokens = context.slice(-MAX_HELD_TOKENS);
    this.readOffset = this.tokens.length;
  }

  /** Adds one generated token; returns the text that is now complete (possibly ""). */
  push(token: number): string {
    this.tokens.push(token);
    const prefixText = this.detokenize(this.tokens.slice(this.prefixOffset, this.readOffset));
    const fullText = this.detokenize(this.tokens.slice(this.prefixOffset));
    const held = this.tokens.length - this.readOffset;
    if (fullText.endsWith(REPLACEMENT) && held < MAX_HELD_TOKENS) return "";
    if (fullText.length <= prefixText.length && !fullText.endsWith(REPLACEMENT)) {
      // A token that adds no text yet (for example the first half of a merge): keep it pending.
      if (held < MAX_HELD_TOKENS) return "";
    }
    const delta = fullText.startsWith(prefixText) ? fullText.slice(prefixText.length) : fullText;
    this.prefixOffset = this.readOffset;
    this.readOffset = this.tokens.length;
    this.trim();
    return delta;
  }

  /** Releases whatever is still held back (at the end of a generation). */
  flush(): string {
    if (this.readOffset === this.tokens.length) return "";
    const prefixText = this.detokenize(this.tokens.slice(this.prefixOffset, this.readOffset));
    const fullText = this.detokenize(this.tokens.slice(this.prefixOffset));
    this.prefixOffset = this.readOffset = this.tokens.length;
    return fullText.startsWith(prefixText) ? fullText.slice(prefixText.length) : fullText;
  }

  /** Keeps the window short: only the tokens from prefixOffset on are ever decoded again. */
  private trim(): void {
    if (this.prefixOffset > 64) {
      this.tokens.splice(0, this.prefixOffset);
      this.readOffset -= this.prefixOffset;
      this.prefixOffset = 0;
    }
  }
}
