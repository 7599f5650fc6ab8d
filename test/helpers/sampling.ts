/** Sampling parameters for engine jobs built by hand in tests. */
import type { SamplingParams } from "../../src/engine/index.js";

/** Greedy decoding with every other sampler off: the same text from the same prompt. */
export const GREEDY: SamplingParams = {
  temperature: 0,
  topP: 1,
  topK: 0,
  minP: 0,
  presencePenalty: 0,
  frequencyPenalty: 0,
};
