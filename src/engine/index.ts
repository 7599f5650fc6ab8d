export * from "./types.js";
export type {
  GenerationStream,
  ModelStatus,
  AutoscaleState,
  ReplicaStatus,
  ServedModel,
  StreamEvent,
} from "./client.js";
export { EngineJobError } from "./errors.js";
export { EventChannel } from "./event-channel.js";
