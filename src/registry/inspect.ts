/**
 * What the registry needs to know about a model file, from the model toolkit (src/models):
 * its format (converting other formats to GGUF), its GGUF facts for the manifest, and a quick
 * validation. The memory a load takes is load admission's estimate (src/guards/estimator.ts).
 */
import {
  convertModel,
  describeGgufHeader,
  detectFormat,
  ModelFormatError,
  validateModel,
} from "../models/index.js";
import type { ValidationSummary } from "./manifest.js";

export interface ModelFacts {
  format: "gguf";
  architecture: string | null;
  quantization: string | null;
  parameterCount: number | null;
  contextLength: number | null;
  validation: ValidationSummary;
}

export interface ModelInspector {
  /** The file's format; throws InvalidModelError for a file that is no model or is refused. */
  detect(path: string): Promise<string>;
  /** Converts a non-GGUF model (llama2.c, Hugging Face folder) to GGUF at `out`. */
  convert(path: string, out: string): Promise<void>;
  /** Reads and checks a GGUF; throws InvalidModelError when it is not a loadable one. */
  inspect(path: string): Promise<ModelFacts>;
}

/** The file is not a model the registry can store; the message says why. */
export class InvalidModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidModelError";
  }
}

function invalid(err: unknown): never {
  if (err instanceof ModelFormatError) throw new InvalidModelError(`${err.code}: ${err.message}`);
  throw err;
}

async function gguf(path: string) {
  const d = await detectFormat(path).catch(invalid);
  if (d.format !== "gguf") throw new InvalidModelError(`${d.format} is not GGUF`);
  return describeGgufHeader(path, d.header, d.fileSize);
}

export interface InspectorOptions {
  /** "quick": the toolkit's quick validation (load, tokenizer, determinism in a child
   * process, a few seconds); "header": the format checks only. */
  validation: "quick" | "header";
  /** llama.cpp threads of the validation worker. */
  threads?: number;
}

/** The inspector over the model toolkit. */
export function toolkitInspector(options: InspectorOptions): ModelInspector {
  return {
    async detect(path) {
      return (await detectFormat(path).catch(invalid)).format;
    },

    async convert(path, out) {
      await convertModel(path, out).catch(invalid);
    },

    async inspect(path) {
      const desc = await gguf(path);
      const checks = [
        `GGUF v${desc.formatVersion}: header, metadata and ${desc.tensorCount} tensors within the file`,
      ];
      if (options.validation === "quick") {
        // The registry hashes the file as it copies it: no second full read here.
        const report = await validateModel(path, {
          quick: true,
          checksum: false,
          threads: options.threads ?? 1,
        });
        if (!report.ok) {
          const failed = report.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
          throw new InvalidModelError(`validation failed: ${failed.join("; ")}`);
        }
        for (const c of report.checks)
          if (c.name !== "format") checks.push(`${c.name}: ${c.detail}`);
      }
      return {
        format: "gguf",
        architecture: desc.architecture ?? null,
        quantization: desc.quantization ?? null,
        parameterCount: desc.parameters ?? null,
        contextLength: desc.contextLength ?? null,
        validation: { ok: true, checks, tensors: desc.tensorCount ?? 0 },
      };
    },
  };
}

/** The default: quick validation on import. */
export const ggufInspector: ModelInspector = toolkitInspector({ validation: "quick" });
