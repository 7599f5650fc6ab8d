export {
  RegistryServing,
  REGISTRY_PREFIX,
  type RegistryServingOptions,
} from "./registry-serving.js";
export { openRegistryServing, type RegistryStartOptions } from "./open.js";
export { SwappableModel, type SwappableHost } from "./swappable-model.js";
