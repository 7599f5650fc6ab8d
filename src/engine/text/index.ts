export {
  IncrementalDetokenizer,
  MAX_HELD_TOKENS,
  type Detokenize,
} from "./incremental-detokenizer.js";
export { StopMatcher, type StopResult } from "./stop-matcher.js";
export { LineSplitter } from "./line-splitter.js";
