/** The load generator (`bulwark bench`) and its report: vLLM's serving metrics for any OpenAI-compatible server. */
export { runBench, type BenchOptions, type BenchResult } from "./bench.js";
export { PERCENTILES, percentile, percentileSorted, summarize, type Summary } from "./stats.js";
export { arrivalOffsets, gammaSample, seededRandom } from "./schedule.js";
export {
  computeMetrics,
  parseGoodput,
  tpotOf,
  type BenchMetrics,
  type GoodputSlo,
  type RequestOutcome,
} from "./metrics.js";
export { markdownSummary, verdicts, KPI, type Verdict } from "./report.js";
export { renderChart, throughputSeries } from "./chart.js";
export { repeatMixPlan, buildDataset, type BenchRequest } from "./datasets.js";
export { runLoad, type LoadMode } from "./runner.js";
export { normalizeBaseUrl } from "./http.js";
