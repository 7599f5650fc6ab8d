/**
 * The memory a model needs to serve: its weights, the KV cache of every slot, and a fixed
 * overhead for the runtime and llama.cpp's compute buffers.
 */

export interface MemoryShape {
  weightsBytes: number;
  layers: number;
  kvHeads: number;
  headDim: number;
  vocabSize: number;
  embeddingSize: number;
}

export interface MemoryEstimate {
  weightsBytes: number;
  kvCacheBytes: number;
  overheadBytes: number;
  totalBytes: number;
  contextSize: number;
  slots: number;
}

/**
 * The runtime's own resident memory: Node.js, the llama.cpp libraries and the worker's code.
 * Measured with `bulwark models validate` as the peak RSS of a worker serving stories260K
 * (weights, KV cache and compute buffers about 2 MB): 101.5 MiB on Linux x64 with
 * node-llama-cpp 3.21.1's CPU build.
 */
export const RUNTIME_BASE_BYTES = 100 * 1024 * 1024;

/** Bytes per KV cache element: llama.cpp's default cache type is F16. */
export const KV_BYTES_PER_ELEMENT = 2;

/**
 * Weights + KV cache (layers × KV heads × head dim × 2 for K and V × bytes × tokens, tokens
 * being ctx × slots) + overhead (the runtime base, plus the compute buffer, which holds the
 * logits of a batch and the activations: about batch × (vocab + 4 × embedding) float32).
 */
export function estimateMemory(
  shape: MemoryShape,
  contextSize: number,
  slots: number,
  batchSize = 512,
): MemoryEstimate {
  const tokens = contextSize * slots;
  const kvCacheBytes =
    shape.layers * shape.kvHeads * shape.headDim * 2 * KV_BYTES_PER_ELEMENT * tokens;
  const batch = Math.min(batchSize, contextSize);
  const computeBytes = batch * (shape.vocabSize + 4 * shape.embeddingSize) * 4;
  const overheadBytes = RUNTIME_BASE_BYTES + computeBytes;
  return {
    weightsBytes: shape.weightsBytes,
    kvCacheBytes,
    overheadBytes,
    totalBytes: shape.weightsBytes + kvCacheBytes + overheadBytes,
    contextSize,
    slots,
  };
}
