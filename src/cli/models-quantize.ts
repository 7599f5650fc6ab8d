/** `bulwark models quantize IN OUT --type q8_0|q4_0`. */
import type { Command } from "commander";
import { formatBytes, quantizeModel, type QuantType } from "../models/index.js";
import { CliError } from "./cli-error.js";
import { modelCommand } from "./models-common.js";
import { progressDisplay } from "../util/progress-display.js";

const TYPES = ["q8_0", "q4_0", "f16"];

export function registerModelsQuantize(models: Command): void {
  models
    .command("quantize <input> <output>")
    .description("Quantize an F32 or F16 GGUF to Q8_0 or Q4_0 (ggml's block formats).")
    .requiredOption("--type <type>", `target type: ${TYPES.join(", ")}`)
    .action((input: string, output: string, flags: { type: string }) =>
      modelCommand(async () => {
        const type = flags.type.toLowerCase();
        if (!TYPES.includes(type))
          throw new CliError(`--type must be one of ${TYPES.join(", ")}, got "${flags.type}"`);
        const progress = progressDisplay("quantizing", "percent");
        const started = Date.now();
        const r = await quantizeModel(input, output, type as QuantType, (i, n, name) =>
          progress.update(i, n, { detail: name }),
        );
        progress.update(1, 1);
        progress.end();
        console.log(
          `wrote ${output}: ${r.quantized} tensors as ${type.toUpperCase()}, ${r.kept} kept, ` +
            `${formatBytes(r.bytesIn)} → ${formatBytes(r.bytesOut)} in ${Date.now() - started} ms`,
        );
      }),
    );
}
