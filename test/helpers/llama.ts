/** Loads a GGUF in node-llama-cpp (one thread, CPU) and completes a prompt greedily. */
import { getLlama, LlamaCompletion, LlamaLogLevel, type Llama } from "node-llama-cpp";

let llama: Promise<Llama> | undefined;

export async function complete(
  modelPath: string,
  prompt: string,
  maxTokens: number,
  options: { temperature?: number; seed?: number } = {},
): Promise<string> {
  llama ??= getLlama({ build: "never", maxThreads: 1, gpu: false, logLevel: LlamaLogLevel.error });
  const model = await (await llama).loadModel({ modelPath });
  try {
    const context = await model.createContext({ threads: 1, contextSize: 256 });
    const completion = new LlamaCompletion({ contextSequence: context.getSequence() });
    const text = await completion.generateCompletion(prompt, {
      maxTokens,
      temperature: options.temperature ?? 0,
      seed: options.seed,
    });
    await context.dispose();
    return text;
  } finally {
    await model.dispose();
  }
}
