/**
 * The command line of one llama-server engine process, built from the replica's spec. Pure, so
 * that the mapping from Bulwark's settings to llama.cpp's flags is unit tested.
 */
import type { ReplicaSpec } from "../types.js";

export interface ServerArgsOptions {
  /** Unix socket path the server listens on (llama-server binds one when --host ends in .sock). */
  socketPath: string;
  /** A file (mode 0600, in the replica's private directory) holding the per-process key every
   * request must carry: a key on the command line would show in any local user's `ps`. */
  apiKeyFile: string;
  /** Bytes of host memory for llama-server's prompt cache (engine.promptCacheBytes); 0: none. */
  promptCacheBytes: number;
}

/**
 * "cpu" uses no GPU device; any other setting keeps llama-server's default, which offloads the
 * layers that fit (the node-llama-cpp backend's gpuLayers "auto"); a CPU-only build has none.
 */
function gpuArgs(gpu: string): string[] {
  return gpu === "cpu" ? ["--device", "none"] : [];
}

const MiB = 1024 * 1024;

/**
 * Arguments for `llama-server`. At this llama.cpp commit `-c` is the size of the whole KV cache:
 * with `-np N` and no unified KV cache each slot gets c / N tokens, so `-c` is contextSize × slots
 * (contextSize already capped at the model's training context by the caller).
 */
export function buildServerArgs(spec: ReplicaSpec, options: ServerArgsOptions): string[] {
  const threads = String(Math.max(1, spec.threads));
  return [
    "--model",
    spec.modelPath,
    "--host",
    options.socketPath,
    "--api-key-file",
    options.apiKeyFile,
    "--threads",
    threads,
    "--threads-batch",
    threads,
    "--parallel",
    String(spec.slots),
    "--no-kv-unified",
    "--ctx-size",
    String(spec.contextSize * spec.slots),
    "--batch-size",
    String(Math.min(spec.batchSize, spec.contextSize)),
    ...gpuArgs(spec.gpu),
    // Reuse a slot's cached prefix (the default, named so that a changed default cannot drop it).
    // The host-memory prompt cache on top is bounded by engine.promptCacheBytes (llama-server's own
    // default is 8 GiB), which load admission counts with the process's overhead.
    "--cache-prompt",
    "--cache-ram",
    // llama-server counts it in MiB; rounded down, so the process stays within the estimate.
    String(Math.floor(options.promptCacheBytes / MiB)),
    "--no-webui",
    "--offline",
    "--no-warmup",
    "--no-slots",
    // Warnings and errors only: the gateway logs every request itself.
    "--log-verbosity",
    "2",
  ];
}

/** The key a server process gets: 32 random bytes, hex. */
export function apiKeyFrom(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}
