/** `bulwark models inspect FILE`: format, architecture, size, tokenizer, memory estimate. */
import type { Command } from "commander";
import { formatBytes, inspectModel, type ModelDescription } from "../models/index.js";
import { intOption, modelCommand } from "./models-common.js";

function line(label: string, value: unknown): string {
  return `  ${label.padEnd(18)} ${value}`;
}

/** The human-readable report. */
export function renderDescription(d: ModelDescription): string {
  const out = [`${d.path}`];
  out.push(line("format", d.format + (d.formatVersion ? ` v${d.formatVersion}` : "")));
  if (d.architecture) out.push(line("architecture", d.architecture));
  if (d.name) out.push(line("name", d.name));
  if (d.parameters !== undefined)
    out.push(line("parameters", d.parameters.toLocaleString("en-US")));
  if (d.quantization) out.push(line("quantization", d.quantization));
  if (d.tensorTypes) {
    const parts = Object.entries(d.tensorTypes).map(
      ([t, n]) => `${t} ${n.toLocaleString("en-US")}`,
    );
    out.push(line("weights by type", parts.join(", ")));
  }
  out.push(
    line("size", `${formatBytes(d.sizeBytes)} (${d.sizeBytes.toLocaleString("en-US")} bytes)`),
  );
  if (d.contextLength) out.push(line("context length", d.contextLength));
  if (d.layers) {
    out.push(
      line(
        "shape",
        `${d.layers} layers, ${d.embeddingLength} wide, ${d.heads} heads / ${d.kvHeads} KV heads, feed-forward ${d.feedForwardLength}`,
      ),
    );
  }
  if (d.tokenizer) {
    const t = d.tokenizer;
    const special = [t.bos !== undefined && `BOS ${t.bos}`, t.eos !== undefined && `EOS ${t.eos}`]
      .filter(Boolean)
      .join(", ");
    out.push(
      line("tokenizer", `${t.model ?? "?"}, ${t.vocabSize} tokens${special ? `, ${special}` : ""}`),
    );
  }
  if (d.format === "gguf") {
    out.push(
      line(
        "chat template",
        d.chatTemplate ? `${d.chatTemplate.length} characters (Jinja)` : "none",
      ),
    );
  }
  if (d.memory) {
    const m = d.memory;
    out.push(
      line(
        "memory estimate",
        `${formatBytes(m.totalBytes)} for ${m.slots} slots × ${m.contextSize} tokens: weights ` +
          `${formatBytes(m.weightsBytes)} + KV cache ${formatBytes(m.kvCacheBytes)} + overhead ${formatBytes(m.overheadBytes)}`,
      ),
    );
  }
  for (const note of d.notes) out.push(line("note", note));
  return out.join("\n");
}

export function registerModelsInspect(models: Command): void {
  models
    .command("inspect <file>")
    .description("Show a model's format, architecture, parameters, tokenizer and memory estimate.")
    .option("--ctx <tokens>", "context per slot for the memory estimate", intOption("ctx", 1), 2048)
    .option("--slots <n>", "slots for the memory estimate", intOption("slots", 1), 4)
    .option("--json", "print the report as JSON")
    .action((file: string, flags: { ctx: number; slots: number; json?: boolean }) =>
      modelCommand(async () => {
        const d = await inspectModel(file, { contextSize: flags.ctx, slots: flags.slots });
        console.log(flags.json ? JSON.stringify(d, null, 2) : renderDescription(d));
      }),
    );
}
