/**
 * The one configuration schema. Every field has a description with its unit; docs/config.md is
 * generated from this file (`npm run docs:config`) and a unit test fails when it is out of date.
 * Values come from the config file, then BULWARK_* environment variables, then CLI flags.
 */
import { z } from "zod";

const MiB = 1024 * 1024;

const port = z.number().int().min(0).max(65535);
const ms = (min = 1) => z.number().int().min(min);
const count = (min = 1) => z.number().int().min(min);

export const gpuSchema = z.enum(["auto", "cpu", "cuda", "vulkan", "metal"]);

/** node-llama-cpp 3.21.1's chat wrappers (a unit test keeps this list in step with it). */
export const chatWrapperNames = [
  "auto",
  "general",
  "deepSeek",
  "qwen",
  "llama3.2-lightweight",
  "llama3.1",
  "llama3",
  "llama2Chat",
  "mistral",
  "alpacaChat",
  "functionary",
  "chatML",
  "falconChat",
  "gemma4",
  "gemma",
  "harmony",
  "muse",
  "seed",
] as const;

/** One served model: a name clients use, and the GGUF behind it. */
export const modelEntrySchema = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, "letters, digits, '.', '_', ':' and '-' only")
    .describe("Name clients use in the `model` field."),
  path: z
    .string()
    .min(1)
    .describe(
      "Path of the GGUF file, or registry:NAME[:VERSION] for a model of the registry (NAME " +
        "follows NAME:latest and hot-swaps on promotion). Never shown to clients.",
    ),
  replicas: count().optional().describe("Workers for this model. Default: engine.replicas."),
  slots: count().max(256).optional().describe("Sequences per worker. Default: engine.slots."),
  threads: count(0).max(1024).optional().describe("Threads per worker. Default: engine.threads."),
  contextSize: count(16)
    .optional()
    .describe("Context per slot, in tokens. Default: engine.contextSize."),
  gpu: gpuSchema.optional().describe("GPU backend for this model. Default: engine.gpu."),
  chatWrapper: z
    .enum(chatWrapperNames)
    .optional()
    .describe(
      "Chat format. auto (default): the GGUF's chat template; without one, node-llama-cpp's " +
        "fallback for the architecture (Llama 2 chat for a plain llama). A name forces that format.",
    ),
});

const serverSchema = z
  .strictObject({
    host: z.string().min(1).default("127.0.0.1").describe("Address the public API listens on."),
    port: port.default(8080).describe("Port of the public API (0 picks a free port)."),
    bodyLimit: count(1024)
      .default(1 * MiB)
      .describe("Largest request body accepted, in bytes (default 1 MiB)."),
    drainTimeoutMs: ms(0)
      .default(30_000)
      .describe("On SIGTERM, how long in-flight requests may finish before workers stop, in ms."),
    requestTimeoutMs: ms()
      .default(600_000)
      .describe("Longest time one generation may run end to end, in ms."),
  })
  .prefault({});

const engineSchema = z
  .strictObject({
    replicas: count().max(64).default(1).describe("Workers (child processes) per model."),
    slots: count()
      .max(256)
      .default(4)
      .describe("Sequences per worker: requests one worker decodes together in one batch."),
    threads: count(0)
      .max(1024)
      .default(0)
      .describe(
        "llama.cpp threads per worker. 0 lets the supervisor split os.availableParallelism() " +
          "between all workers, keeping one core for the gateway on machines with more than one, " +
          "so that together they never exceed the cores. Explicit values that exceed them are refused.",
      ),
    contextSize: count(16)
      .default(2048)
      .describe("Context per slot, in tokens; capped at the model's training context."),
    batchSize: count(1)
      .default(512)
      .describe("Tokens llama.cpp evaluates in one batch (prompt processing chunk)."),
    gpu: gpuSchema
      .default("auto")
      .describe("GPU backend: auto uses one when a GPU backend loads, otherwise the CPU."),
    heartbeatIntervalMs: ms(10)
      .default(1000)
      .describe("How often a worker reports that it is alive, in ms."),
    heartbeatTimeoutMs: ms(50)
      .default(10_000)
      .describe("A worker silent for this long is killed and restarted, in ms."),
    progressTimeoutMs: ms(50)
      .default(30_000)
      .describe(
        "A worker that is busy but produces no token for this long counts as hung and is " +
          "restarted, in ms.",
      ),
    loadTimeoutMs: ms(100)
      .default(300_000)
      .describe("Longest time a worker may take to load its model, in ms."),
    restartBackoffMs: ms(1)
      .default(500)
      .describe("First delay before restarting a dead worker, in ms; doubles on each failure."),
    restartBackoffMaxMs: ms(1)
      .default(30_000)
      .describe("Largest delay between restarts of one worker, in ms."),
    stableAfterMs: ms(1)
      .default(60_000)
      .describe("A worker up this long resets its restart backoff, in ms."),
    testHooks: z
      .boolean()
      .default(false)
      .describe(
        "Enables test-only worker hooks (hang on a marker prompt). Never enable in production.",
      ),
  })
  .prefault({});

const schedulerSchema = z
  .strictObject({
    queueLimit: count(0)
      .default(64)
      .describe("Requests waiting per model beyond the busy slots; more get 503 queue_full."),
    queueTimeoutMs: ms()
      .default(60_000)
      .describe("Longest wait in the queue before 503 queue_timeout, in ms."),
  })
  .prefault({});

const limitsSchema = z
  .strictObject({
    maxMessages: count().default(512).describe("Messages in one chat request."),
    maxPromptChars: count()
      .default(400_000)
      .describe("Characters in one prompt (all messages together), before tokenization."),
    maxStop: count(0).default(8).describe("Stop strings in one request."),
    maxStopChars: count().default(256).describe("Characters in one stop string."),
    maxTokens: count().optional().describe("Cap on max_tokens. Default: the slot's context size."),
    maxJsonSchemaBytes: count()
      .default(32 * 1024)
      .describe("Size of a response_format JSON schema, in bytes of JSON (default 32 KiB)."),
    maxJsonSchemaDepth: count().default(16).describe("Nesting depth of a JSON schema."),
    maxJsonSchemaProperties: count()
      .default(512)
      .describe("Properties in a JSON schema, counted over all objects."),
    grammarTimeoutMs: ms()
      .default(2_000)
      .describe("Longest time compiling a response_format into a grammar may take, in ms."),
    maxEmbeddingInputs: count().default(256).describe("Inputs in one embeddings request."),
    maxLogitBias: count(0).default(300).describe("Entries in logit_bias."),
  })
  .prefault({});

const logSchema = z
  .strictObject({
    level: z
      .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
      .default("info")
      .describe("Log level of the JSON log on stdout."),
  })
  .prefault({});

const registrySchema = z
  .strictObject({
    dir: z
      .string()
      .default("")
      .describe(
        "Folder of the model registry (GGUF files, manifests, index.db). Empty (default): " +
          "<home>/models.",
      ),
    backupDir: z
      .string()
      .default("")
      .describe(
        "Folder of the automatic backup copies made on import. Empty (default): <registry dir>/.backups.",
      ),
    backupsToKeep: count(0)
      .default(2)
      .describe(
        "Backup copies kept per model name (the newest versions); 0 turns automatic backups off.",
      ),
    validateOnImport: z
      .enum(["quick", "header"])
      .default("quick")
      .describe(
        "Validation on import and pull. quick (default): load the model in a child process and " +
          "check its tokenizer and deterministic output (seconds for small models, longer for " +
          "large ones); header: the format checks only.",
      ),
    verifyIntervalMs: ms(0)
      .default(0)
      .describe(
        "How often a running server recomputes the full sha256 of every served registry model, " +
          "in ms; 0 (default) turns the periodic verification off.",
      ),
    watchIntervalMs: ms(50)
      .default(1_000)
      .describe(
        "How often a running server reads the registry index for promotions and rollbacks, in ms.",
      ),
    hubUrl: z
      .string()
      .url()
      .default("https://huggingface.co")
      .describe("Base URL of the Hugging Face hub that `models pull hf:...` resolves against."),
    pullRetries: count(0)
      .default(3)
      .describe(
        "Times `models pull` retries after a dropped connection or a checksum mismatch, per pull.",
      ),
    pullIdleTimeoutMs: ms(100)
      .default(30_000)
      .describe("A download that receives no byte for this long is cut and resumed, in ms."),
    loadMemoryPercent: count(1)
      .max(100)
      .default(80)
      .describe(
        "A registry model loads only if its estimated weights and KV cache plus the memory in " +
          "use now stay under this share of the machine's (or cgroup's) memory, in percent.",
      ),
  })
  .prefault({});

export const configSchema = z
  .strictObject({
    home: z
      .string()
      .min(1)
      .default("~/.bulwark")
      .describe("Directory for Bulwark's data (models, stores, logs). Env: BULWARK_HOME."),
    server: serverSchema,
    engine: engineSchema,
    scheduler: schedulerSchema,
    limits: limitsSchema,
    log: logSchema,
    registry: registrySchema,
    models: z
      .array(modelEntrySchema)
      .default([])
      .describe("Models to serve. With none, `bulwark serve` serves the built-in demo model."),
  })
  .strict();

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type ModelEntry = z.output<typeof modelEntrySchema>;
export type GpuSetting = z.output<typeof gpuSchema>;
