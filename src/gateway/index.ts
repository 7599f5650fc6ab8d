export { buildGateway } from "./app.js";
export {
  StaticModelCatalog,
  type CatalogEntry,
  type GatewayDeps,
  type ModelCatalog,
} from "./types.js";
export { GrammarCompiler } from "./shared/grammar-compiler.js";
export type { HealthExtras } from "./health/route.js";
