/**
 * The degradation ladder of one model. Pure, with the time passed in. While memory use is at
 * or above the warn threshold the model steps down one rung every `stepMs`; once use is back
 * below the warn watermark it climbs back one rung every `stepMs`. Rungs with nothing
 * configured are skipped.
 *
 *   0 normal · 1 fewer slots / smaller context for new workers · 2 the smaller quantized
 *   variant for new workers · 3 a lower cap on max_tokens
 */
export interface LadderSettings {
  slots?: number;
  contextSize?: number;
  variantPath?: string;
  maxTokens?: number;
}

export type LadderStep = 0 | 1 | 2 | 3;

export const STEP_NAMES = ["normal", "smaller_context", "quantized_variant", "max_tokens_cap"];

/** What new workers and new requests of a model get at a step (cumulative). */
export interface Degradation {
  step: LadderStep;
  name: string;
  slots?: number;
  contextSize?: number;
  variantPath?: string;
  maxTokens?: number;
}

export class DegradationLadder {
  private step: LadderStep = 0;
  private lastMoveAt = -Infinity;
  private readonly rungs: LadderStep[];

  constructor(
    private readonly settings: LadderSettings,
    private readonly stepMs: number,
  ) {
    const rungs: LadderStep[] = [0];
    if (settings.slots !== undefined || settings.contextSize !== undefined) rungs.push(1);
    if (settings.variantPath !== undefined) rungs.push(2);
    if (settings.maxTokens !== undefined) rungs.push(3);
    this.rungs = rungs;
  }

  /** Moves at most one rung: down while `pressed`, up while not. Returns true when it moved. */
  update(pressed: boolean, now: number): boolean {
    if (now - this.lastMoveAt < this.stepMs) return false;
    const index = this.rungs.indexOf(this.step);
    const next = pressed ? index + 1 : index - 1;
    if (next < 0 || next >= this.rungs.length) return false;
    this.step = this.rungs[next]!;
    this.lastMoveAt = now;
    return true;
  }

  current(): Degradation {
    const s = this.settings;
    const d: Degradation = { step: this.step, name: STEP_NAMES[this.step]! };
    if (this.step >= 1) {
      d.slots = s.slots;
      d.contextSize = s.contextSize;
    }
    if (this.step >= 2) d.variantPath = s.variantPath;
    if (this.step >= 3) d.maxTokens = s.maxTokens;
    return d;
  }
}
