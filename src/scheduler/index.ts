export { AdmissionQueue, QueueFullError, type Queued } from "./admission-queue.js";
export {
  BATCH_PRIORITY,
  Dispatcher,
  type Assignment,
  type DispatcherSettings,
  type Placeable,
  type Slotted,
} from "./dispatcher.js";
export {
  MAX_WORKER_LOSSES,
  continuation,
  endOfSentStream,
  lossVerdict,
  type LossVerdict,
  type LostRequest,
  type StreamProgress,
} from "./recovery.js";
export { pickReplica, retryAfterSeconds, type ReplicaLoad } from "./slot-choice.js";
export { Ticket } from "./ticket.js";
