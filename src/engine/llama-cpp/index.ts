export { LlamaCppReplica, type LlamaCppReplicaOptions } from "./replica.js";
