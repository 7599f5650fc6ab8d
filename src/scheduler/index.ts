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
export {
  CHAR_BLOCK,
  MIN_PREFIX_BLOCKS,
  PrefixAffinityRouter,
  TOKEN_BLOCK,
  leastOutstanding,
  makeRouter,
  prefixChain,
  promptPrefix,
  type Router,
  type RoutingPolicy,
} from "./routing.js";
export { BackendHealth, type BackendHealthOptions, type HealthState } from "./backend-health.js";
export { pickReplica, retryAfterSeconds, type ReplicaLoad } from "./slot-choice.js";
export { Ticket } from "./ticket.js";
