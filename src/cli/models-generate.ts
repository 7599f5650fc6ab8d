/** `bulwark models generate demo|random`: models built in code. */
import type { Command } from "commander";
import { statSync } from "node:fs";
import {
  formatBytes,
  QUANT_TYPES,
  RANDOM_DEFAULTS,
  writeDemoModel,
  writeRandomModel,
  type QuantType,
  type RandomModelOptions,
} from "../models/index.js";
import { CliError } from "./cli-error.js";
import { intOption, modelCommand } from "./models-common.js";
import { progressDisplay } from "../util/progress-display.js";

/** The random model's options as the flags give them: the type unchecked, kv-heads optional. */
type RandomFlags = Omit<RandomModelOptions, "type" | "kvHeads"> & {
  out: string;
  type: string;
  kvHeads?: number;
};

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
  const d = RANDOM_DEFAULTS;
  generate
    .command("random")
    .description("Write a llama-shaped model with seeded random weights, for benchmarks.")
    .requiredOption("--out <file>", "GGUF file to write")
    .option("--width <n>", "embedding width", intOption("width", 2, 65536), d.width)
    .option("--layers <n>", "transformer blocks", intOption("layers", 1, 512), d.layers)
    .option("--heads <n>", "attention heads", intOption("heads", 1, 1024), d.heads)
    .option(
      "--kv-heads <n>",
      "key/value heads, for grouped-query attention (default: --heads)",
      intOption("kv-heads", 1, 1024),
    )
    .option("--ff <n>", "feed-forward width", intOption("ff", 1, 262144), d.ff)
    .option(
      "--vocab <n>",
      "vocabulary size (built in code)",
      intOption("vocab", 354, 1 << 20),
      d.vocab,
    )
    .option("--ctx <tokens>", "context length", intOption("ctx", 16, 1 << 20), d.ctx)
    .option("--type <type>", "weight type: f32, f16, q8_0 or q4_0", d.type)
    .option("--seed <n>", "random seed", intOption("seed", 0, 2 ** 32 - 1), d.seed)
    .option("--vocab-from <gguf>", "copy the tokenizer of this GGUF instead of building one")
    .action((flags: RandomFlags) =>
      modelCommand(async () => {
        const type = flags.type.toLowerCase();
        if (!Object.hasOwn(QUANT_TYPES, type)) {
          throw new CliError(`--type must be f32, f16, q8_0 or q4_0, got "${flags.type}"`);
        }
        const progress = progressDisplay("generating", "percent");
        const started = Date.now();
        const size = await writeRandomModel(
          flags.out,
          { ...flags, kvHeads: flags.kvHeads ?? flags.heads, type: type as QuantType },
          (i, n, name) => progress.update(i, n, { detail: name }),
        );
        progress.update(1, 1);
        progress.end();
        console.log(`wrote ${flags.out} (${formatBytes(size)}) in ${Date.now() - started} ms`);
      }),
    );
  return generate;
}
