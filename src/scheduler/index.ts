export { AdmissionQueue, QueueFullError, type Queued } from "./admission-queue.js";
export {
  Dispatcher,
  type Assignment,
  type DispatcherSettings,
  type Slotted,
} from "./dispatcher.js";
export { MAX_WORKER_LOSSES, lossVerdict, type LossVerdict, type LostRequest } from "./recovery.js";
export { pickReplica, retryAfterSeconds, type ReplicaLoad } from "./slot-choice.js";
