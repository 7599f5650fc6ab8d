/** `bulwark models …`: the model toolkit's commands, one file each. */
import type { Command } from "commander";
import { registerModelsInspect } from "./models-inspect.js";
import { registerModelsGenerate } from "./models-generate.js";
import { registerModelsQuantize } from "./models-quantize.js";
import { registerModelsConvert } from "./models-convert.js";
import { registerModelsValidate } from "./models-validate.js";

export function registerModels(program: Command): void {
  const models = program
    .command("models")
    .description("Inspect, convert, quantize, generate and validate model files.");
  registerModelsInspect(models);
  registerModelsGenerate(models);
  registerModelsQuantize(models);
  registerModelsConvert(models);
  registerModelsValidate(models);
}
