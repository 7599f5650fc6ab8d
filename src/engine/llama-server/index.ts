export { LlamaServerReplica, type LlamaServerReplicaOptions } from "./replica.js";
export {
  BUILD_COMMAND,
  defaultLlamaServerPath,
  enginesDir,
  isExecutable,
  llamaReleaseTag,
  llamaServerPath,
  llamaSourceDir,
  missingBinaryMessage,
} from "./binary.js";
