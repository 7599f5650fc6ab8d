/**
 * What the registry needs to know about a model file: its format, its GGUF facts for the
 * manifest, a quick validation, and the memory a load takes. Behind an interface so the
 * project's own toolkit (format detection, conversion, validation) can take its place.
 */
import { open, stat } from "node:fs/promises";
import type { ValidationSummary } from "./manifest.js";

export interface ModelFacts {
  format: "gguf";
  architecture: string | null;
  quantization: string | null;
  parameterCount: number | null;
  contextLength: number | null;
  validation: ValidationSummary;
}

export interface LoadShape {
  contextSize: number;
  slots: number;
  replicas: number;
}

export interface ModelInspector {
  /** Reads and checks a GGUF; throws InvalidModelError when it is not a loadable one. */
  inspect(path: string): Promise<ModelFacts>;
  /** Bytes of RAM a load takes: the weights once (they are mmapped and shared by replicas)
   * plus each replica's KV cache and compute buffers. */
  estimateLoadBytes(path: string, shape: LoadShape): Promise<number>;
}

/** The file is not a model the registry can store; the message says why. */
export class InvalidModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidModelError";
  }
}

async function magic(path: string): Promise<string> {
  const handle = await open(path, "r");
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await handle.read(buf, 0, 4, 0);
    return buf.subarray(0, bytesRead).toString("latin1");
  } finally {
    await handle.close();
  }
}

async function insightsOf(path: string) {
  // Loaded on first use: the bindings take a while to import and most commands never need them.
  const { GgufInsights, readGgufFileInfo } = await import("node-llama-cpp");
  const info = await readGgufFileInfo(path, { logWarnings: false, spliceSplitFiles: false });
  return { info, insights: await GgufInsights.from(info) };
}

/** The inspector over node-llama-cpp's GGUF reader and its memory estimates. */
export const ggufInspector: ModelInspector = {
  async inspect(path) {
    const head = await magic(path);
    if (head !== "GGUF") {
      throw new InvalidModelError(
        "not a GGUF file (the first bytes are not the GGUF magic); convert it to GGUF first",
      );
    }
    let facts;
    try {
      facts = await insightsOf(path);
    } catch (err) {
      throw new InvalidModelError(`the GGUF header cannot be read: ${(err as Error).message}`);
    }
    const { info, insights } = facts;
    const { GgmlType, GgufFileType } = await import("node-llama-cpp");
    const { size } = await stat(path);
    const dataEnd = (info.infoEndOffset ?? 0) + insights.modelSize;
    const checks = ["GGUF header and metadata read"];
    if (size < dataEnd) {
      throw new InvalidModelError(
        `the file is truncated: its tensors end at byte ${dataEnd}, the file has ${size} bytes`,
      );
    }
    checks.push(`${info.tensorInfo?.length ?? 0} tensors lie within the file`);
    if (!insights.isSupportedByLlamaCpp) {
      throw new InvalidModelError(
        `architecture "${info.metadata.general.architecture}" is not supported by llama.cpp`,
      );
    }
    checks.push("architecture supported by llama.cpp");
    const fileType = info.metadata.general.file_type;
    const dominant = insights.dominantTensorType;
    return {
      format: "gguf",
      architecture: info.metadata.general.architecture ?? null,
      quantization:
        fileType !== undefined
          ? (GgufFileType[fileType] ?? null)
          : dominant !== undefined
            ? (GgmlType[dominant] ?? null)
            : null,
      parameterCount: insights.totalParameters || null,
      contextLength: insights.trainContextSize ?? null,
      validation: { ok: true, checks, tensors: info.tensorInfo?.length ?? 0 },
    };
  },

  async estimateLoadBytes(path, shape) {
    const { insights } = await insightsOf(path);
    const weights = insights.estimateModelResourceRequirements({ gpuLayers: 0 }).cpuRam;
    const context = insights.estimateContextResourceRequirements({
      contextSize: shape.contextSize * shape.slots,
      modelGpuLayers: 0,
      sequences: shape.slots,
    }).cpuRam;
    return Math.ceil(weights + context * shape.replicas);
  },
};
