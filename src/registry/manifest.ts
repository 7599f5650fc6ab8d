/** What `manifest.json` beside each registered GGUF holds. */

export interface ValidationSummary {
  ok: boolean;
  /** What was checked, in plain words (header, tensors within the file, architecture known). */
  checks: string[];
  tensors: number;
}

export interface Manifest {
  name: string;
  version: string;
  /** Full sha256 of the GGUF, hex. */
  sha256: string;
  size: number;
  /** sha256 of the size, the first MiB and the last MiB; checked at every load. */
  fingerprint: string;
  format: "gguf";
  architecture: string | null;
  quantization: string | null;
  parameterCount: number | null;
  contextLength: number | null;
  /** Where it came from: `file:/path`, an URL, or `hf:owner/repo/file`. */
  source: string;
  createdAt: string;
  validation: ValidationSummary;
}

export const MODEL_FILE = "model.gguf";
export const MANIFEST_FILE = "manifest.json";
