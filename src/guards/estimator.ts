/**
 * How much memory loading one replica will take. The estimator is an interface so a fuller one
 * (per-tensor sizes, compute buffers, GPU offload) can replace this one; this one reads the GGUF
 * header only: the file size (the weights are mmapped and all touched while decoding) plus the
 * KV cache for every slot at the replica's context, plus a fixed per-process overhead.
 */
import { stat } from "node:fs/promises";
import type { ReplicaSpec } from "../engine/index.js";
import { inspectModel, RUNTIME_BASE_BYTES } from "../models/index.js";

export interface MemoryEstimate {
  totalBytes: number;
  weightsBytes: number;
  kvCacheBytes: number;
  overheadBytes: number;
}

/** What an estimate reads from a replica's spec: the file, its context and its slots. */
export type LoadSpec = Pick<ReplicaSpec, "modelPath" | "contextSize" | "slots">;

export interface MemoryEstimator {
  estimate(spec: LoadSpec): Promise<MemoryEstimate>;
}

interface ArchitectureFacts {
  blockCount: number;
  embeddingLength: number;
  headCount: number;
  headCountKv: number;
  keyLength?: number;
  valueLength?: number;
}

/** Bytes of the KV cache: K and V, f16 (llama.cpp's default type), per layer, token and slot. */
export function kvCacheBytes(arch: ArchitectureFacts, tokens: number): number {
  const headDim = arch.embeddingLength / Math.max(1, arch.headCount);
  const k = (arch.keyLength ?? headDim) * arch.headCountKv;
  const v = (arch.valueLength ?? headDim) * arch.headCountKv;
  return arch.blockCount * tokens * (k + v) * 2;
}

function num(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

/** Reads the architecture block of a GGUF header through node-llama-cpp's parser. */
async function readArchitecture(path: string): Promise<ArchitectureFacts | undefined> {
  const { readGgufFileInfo } = await import("node-llama-cpp");
  const info = await readGgufFileInfo(path, { readTensorInfo: false, logWarnings: false });
  const a = info.architectureMetadata as Record<string, unknown> & {
    attention?: Record<string, unknown>;
  };
  const blockCount = num(a.block_count);
  const embeddingLength = num(a.embedding_length);
  const headCount = num(a.attention?.head_count);
  if (!blockCount || !embeddingLength || !headCount) return undefined;
  return {
    blockCount,
    embeddingLength,
    headCount,
    headCountKv: num(a.attention?.head_count_kv) ?? headCount,
    keyLength: num(a.attention?.key_length),
    valueLength: num(a.attention?.value_length),
  };
}

/**
 * Memory of one replica's process beyond its weights and its slots' KV cache: the configured
 * per-process overhead, plus llama-server's host prompt cache, which fills up to its limit.
 */
export function processOverheadBytes(config: {
  guards: { workerOverheadBytes: number };
  engine: { promptCacheBytes: number };
}): number {
  return config.guards.workerOverheadBytes + config.engine.promptCacheBytes;
}

export class GgufMemoryEstimator implements MemoryEstimator {
  constructor(private readonly overheadBytes: number) {}

  async estimate(spec: LoadSpec): Promise<MemoryEstimate> {
    let weightsBytes = 0;
    let kv = 0;
    try {
      weightsBytes = (await stat(spec.modelPath)).size;
      const arch = await readArchitecture(spec.modelPath);
      if (arch) kv = kvCacheBytes(arch, spec.contextSize * spec.slots);
    } catch {
      // No readable file (a fake engine, or a file the worker will refuse with its own error):
      // only the overhead is known.
    }
    return {
      totalBytes: weightsBytes + kv + this.overheadBytes,
      weightsBytes,
      kvCacheBytes: kv,
      overheadBytes: this.overheadBytes,
    };
  }
}

/**
 * The model toolkit's estimate (`inspectModel`: weights from the tensor table, KV cache,
 * compute buffers), with its runtime base replaced by the configured per-process overhead.
 * Files it cannot describe fall back to the header-only estimator above.
 */
export class ToolkitMemoryEstimator implements MemoryEstimator {
  private readonly fallback: GgufMemoryEstimator;

  constructor(private readonly overheadBytes: number) {
    this.fallback = new GgufMemoryEstimator(overheadBytes);
  }

  async estimate(spec: LoadSpec): Promise<MemoryEstimate> {
    try {
      const memory = (
        await inspectModel(spec.modelPath, { contextSize: spec.contextSize, slots: spec.slots })
      ).memory;
      if (memory) {
        const overheadBytes = memory.overheadBytes - RUNTIME_BASE_BYTES + this.overheadBytes;
        return {
          totalBytes: memory.weightsBytes + memory.kvCacheBytes + overheadBytes,
          weightsBytes: memory.weightsBytes,
          kvCacheBytes: memory.kvCacheBytes,
          overheadBytes,
        };
      }
    } catch {
      // Not a file the toolkit can read: the header-only estimate below.
    }
    return this.fallback.estimate(spec);
  }
}
