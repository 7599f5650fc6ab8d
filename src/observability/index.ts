export { createLogger, silentLogger, type Logger, type LoggerOptions } from "./logger.js";
export { Metrics, type MetricsState, type RequestObservation } from "./metrics.js";
