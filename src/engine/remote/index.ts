export { BackendGroup, type BackendGroupEvents, type RemoteBackends } from "./group.js";
export { type BackendObserver, type BackendStatus } from "./backend.js";
export { RemoteReplica, estimateTokens, type Outcome } from "./replica.js";
export { backendCall } from "./request-body.js";
export { AnswerReader, SseLines, errorOfBody } from "./answer.js";
