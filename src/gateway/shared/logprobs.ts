/** Where log-probabilities may not be given out. */
import { BulwarkError } from "../../errors/index.js";
import type { GenerationGate } from "../types.js";

/**
 * A key whose output is masked or restored (privacy) gets no log-probabilities: their token
 * texts are the model's raw output and would carry what the filter hides.
 */
export function checkLogprobsAllowed(gate: GenerationGate | null, param: string): void {
  if (gate?.output) {
    throw new BulwarkError(
      "unsupported_parameter",
      "Log-probabilities are not available to a key whose output is masked: their token texts would bypass the masking.",
      { param },
    );
  }
}
