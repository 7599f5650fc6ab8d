export { buildGateway } from "./app.js";
export {
  StaticModelCatalog,
  type CatalogEntry,
  type GatewayBatch,
  type GatewayCache,
  type GatewayDeps,
  type GatewayGuard,
  type GatewayObserver,
  type RequestObservation,
  type ModelCatalog,
} from "./types.js";
export { batchBodyParsers } from "./batch-parsers.js";
export { GrammarCompiler } from "./shared/grammar-compiler.js";
export type { HealthExtras } from "./health/route.js";
export type { GenerationGate, GenerationReservation, OutputFilter } from "./types.js";
