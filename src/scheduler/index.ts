export { AdmissionQueue, QueueFullError, type Queued } from "./admission-queue.js";
export { pickReplica, retryAfterSeconds, type ReplicaLoad } from "./slot-choice.js";
