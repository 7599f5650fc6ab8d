export * from "./types.js";
export { EngineJobError } from "./errors.js";
