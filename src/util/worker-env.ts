/**
 * The environment of processes that parse untrusted model files (engine workers, llama-server,
 * the validation worker): only what they run on, never the gateway's secrets
 * (BULWARK_ADMIN_KEY, HF_TOKEN, the data key, a Redis password). A hostile GGUF that found a
 * way to run code in llama.cpp would find nothing to steal in its environment.
 */

/** Variables passed by name. */
const NAMES = new Set([
  "PATH",
  "HOME",
  "USER",
  "LOGNAME",
  "SHELL",
  "TMPDIR",
  "TMP",
  "TEMP",
  "LANG",
  "LANGUAGE",
  "TZ",
  "TERM",
  "NODE_ENV",
  "LD_LIBRARY_PATH",
  "CUDA_VISIBLE_DEVICES",
  "HIP_VISIBLE_DEVICES",
  "ROCR_VISIBLE_DEVICES",
  "GPU_DEVICE_ORDINAL",
  "VULKAN_SDK",
]);

/** Variables passed by prefix: locale, llama.cpp, node-llama-cpp and thread-runtime settings. */
const PREFIXES = ["LC_", "GGML_", "LLAMA_", "NODE_LLAMA_CPP_", "OMP_", "CUDA_", "VK_"];

/** The allowed subset of `env`. */
export function workerEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (NAMES.has(name) || PREFIXES.some((p) => name.startsWith(p))) out[name] = value;
  }
  return out;
}
