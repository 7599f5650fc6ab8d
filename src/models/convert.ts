/** `convert`: any supported source (llama2.c checkpoint, Hugging Face llama folder) to GGUF. */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { ModelFormatError } from "./errors.js";
import { detectFormat } from "./formats/detect.js";
import { convertHfFolder } from "./formats/hf-convert.js";
import { convertLlama2c } from "./formats/llama2c-io.js";
import type { QuantType } from "./quantize-file.js";

export interface ConvertOptions {
  /** llama2.c's tokenizer.bin; default: tokenizer.bin next to the checkpoint. */
  tokenizer?: string;
  type?: QuantType;
  onTensor?: (index: number, total: number, name: string) => void;
}

/** Converts a model to GGUF; returns the detected source format and the output size. */
export async function convertModel(
  input: string,
  out: string,
  options: ConvertOptions = {},
): Promise<{ from: string; bytes: number }> {
  const d = await detectFormat(input);
  switch (d.format) {
    case "llama2c": {
      const tokenizer = options.tokenizer ?? join(dirname(input), "tokenizer.bin");
      if (!existsSync(tokenizer)) {
        throw new ModelFormatError(
          "model_invalid",
          "a llama2.c checkpoint needs its tokenizer.bin: pass --tokenizer FILE",
        );
      }
      return { from: "llama2c", bytes: await convertLlama2c(input, tokenizer, out) };
    }
    case "hf-folder":
      return { from: "hf-folder", bytes: await convertHfFolder(input, out, options) };
    case "gguf":
      throw new ModelFormatError(
        "model_unsupported",
        "the input is already GGUF; use `models quantize` to change its weight type",
      );
    case "safetensors":
      throw new ModelFormatError(
        "model_unsupported",
        "a lone safetensors file has no config or tokenizer: convert its whole Hugging Face folder",
      );
    case "onnx":
      throw new ModelFormatError(
        "model_unsupported",
        "ONNX models cannot be converted to GGUF here; export the original model instead",
      );
  }
}
