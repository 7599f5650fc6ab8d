/** `bulwark models generate demo|random`: models built in code. */
import type { Command } from "commander";
import { statSync } from "node:fs";
import { formatBytes, writeDemoModel } from "../models/index.js";
import { modelCommand } from "./models-common.js";

export function registerModelsGenerate(models: Command): Command {
  const generate = models.command("generate").description("Write a model built in code.");
  generate
    .command("demo")
    .description("Write the built-in demo model (a word-pair table in a one-layer llama).")
    .requiredOption("--out <file>", "GGUF file to write")
    .action((flags: { out: string }) =>
      modelCommand(async () => {
        const started = Date.now();
        await writeDemoModel(flags.out);
        const size = statSync(flags.out).size;
        console.log(`wrote ${flags.out} (${formatBytes(size)}) in ${Date.now() - started} ms`);
      }),
    );
  return generate;
}
