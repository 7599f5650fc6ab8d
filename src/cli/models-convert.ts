/** `bulwark models convert IN OUT.gguf` and `bulwark models export-llama2c GGUF OUT.bin`. */
import type { Command } from "commander";
import { dirname, join } from "node:path";
import { convertModel, exportLlama2c, formatBytes, type QuantType } from "../models/index.js";
import { CliError } from "./cli-error.js";
import { modelCommand } from "./models-common.js";
import { progressDisplay } from "../util/progress-display.js";

const TYPES = ["f32", "f16", "q8_0", "q4_0"];

export function registerModelsConvert(models: Command): void {
  models
    .command("convert <input> <output>")
    .description(
      "Convert a llama2.c checkpoint (with tokenizer.bin) or a Hugging Face llama folder to GGUF.",
    )
    .option("--tokenizer <file>", "llama2.c tokenizer.bin (default: next to the checkpoint)")
    .option("--type <type>", `weight type: ${TYPES.join(", ")} (default: F32 from F32, else F16)`)
    .action((input: string, output: string, flags: { tokenizer?: string; type?: string }) =>
      modelCommand(async () => {
        const type = flags.type?.toLowerCase();
        if (type && !TYPES.includes(type)) {
          throw new CliError(`--type must be one of ${TYPES.join(", ")}, got "${flags.type}"`);
        }
        const progress = progressDisplay("converting", "percent");
        const started = Date.now();
        const r = await convertModel(input, output, {
          tokenizer: flags.tokenizer,
          type: type as QuantType | undefined,
          onTensor: (i, n, name) => progress.update(i, n, { detail: name }),
        });
        progress.update(1, 1);
        progress.end();
        console.log(
          `converted ${r.from} → ${output} (${formatBytes(r.bytes)}) in ${Date.now() - started} ms`,
        );
      }),
    );
  models
    .command("export-llama2c <gguf> <output>")
    .description("Export a llama GGUF to a llama2.c checkpoint and its tokenizer.bin.")
    .option("--tokenizer-out <file>", "where to write tokenizer.bin (default: next to the output)")
    .action((gguf: string, output: string, flags: { tokenizerOut?: string }) =>
      modelCommand(async () => {
        const tokenizer = flags.tokenizerOut ?? join(dirname(output), "tokenizer.bin");
        const c = await exportLlama2c(gguf, output, tokenizer);
        console.log(
          `wrote ${output} (dim ${c.dim}, ${c.nLayers} layers, vocabulary ${c.vocabSize}, ` +
            `${c.sharedClassifier ? "shared" : "separate"} classifier) and ${tokenizer}`,
        );
      }),
    );
}
