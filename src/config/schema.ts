/**
 * The one configuration schema. Every field has a description with its unit; docs/config.md is
 * generated from this file (`npm run docs:config`) and a unit test fails when it is out of date.
 * Values come from the config file, then BULWARK_* environment variables, then CLI flags.
 */
import { isIP } from "node:net";
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

/**
 * An autoscaled model's replicas: it starts `min` workers and adds or stops one at a time
 * between `min` and `max` as the autoscale policy decides (src/supervisor/autoscale-policy.ts).
 */
const replicaRangeSchema = z
  .strictObject({
    min: count().max(64).describe("Workers kept however idle the model is."),
    max: count().max(64).describe("Workers at most, if memory admission allows them."),
  })
  .refine((r) => r.min <= r.max, { message: "min must not exceed max", path: ["max"] });

/** How a model's requests are spread over its replicas and remote backends. */
export const routingPolicies = ["least-outstanding", "prefix-affinity"] as const;

/** A remote OpenAI-compatible server that serves a model (vLLM, llama-server, another Bulwark). */
export const backendSchema = z
  .strictObject({
    url: z
      .string()
      .regex(/^https?:\/\/[^\s/]+/, "an http:// or https:// URL")
      .describe(
        "Base URL of the backend's OpenAI-compatible API, with its /v1 (http://gpu-1:8000/v1).",
      ),
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/, "letters, digits, '.', '_', ':' and '-' only")
      .optional()
      .describe("Name in /health, metrics and logs. Default: the URL's host:port."),
    model: z
      .string()
      .min(1)
      .optional()
      .describe("The model's name on the backend. Default: this model's name."),
    apiKey: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Bearer key sent to the backend; ${VAR} is replaced by the environment variable VAR " +
          "when the config loads. Never logged.",
      ),
    slots: count()
      .max(4096)
      .default(8)
      .describe("Requests sent to the backend at once (its pool of connections holds as many)."),
    contextSize: count(16)
      .optional()
      .describe(
        "The backend's context in tokens, for max_tokens defaults. Default: the model's " +
          "contextSize, else engine.contextSize.",
      ),
    ca: z
      .string()
      .min(1)
      .optional()
      .describe(
        "PEM file of the CA that signs the backend's certificate (https). Default: system CAs.",
      ),
    cert: z
      .string()
      .min(1)
      .optional()
      .describe("PEM client certificate presented to the backend (mTLS); needs key."),
    key: z.string().min(1).optional().describe("PEM private key of the client certificate."),
    connectTimeoutMs: ms()
      .default(5_000)
      .describe("Longest time to open a connection (and finish TLS), in ms."),
    firstByteTimeoutMs: ms()
      .default(60_000)
      .describe("Longest wait for the backend's response headers after a request is sent, in ms."),
    idleTimeoutMs: ms()
      .default(30_000)
      .describe("Longest silence between two parts of a streamed answer, in ms."),
    healthPath: z
      .string()
      .regex(/^\//, "a path starting with /")
      .default("/models")
      .describe(
        "Active health check, appended to url (GET; 2xx is healthy): /models for /v1/models.",
      ),
    healthIntervalMs: ms(100).default(5_000).describe("Time between active health checks, in ms."),
    failures: count()
      .max(100)
      .default(3)
      .describe(
        "Consecutive failures (connection errors, timeouts, 5xx, failed health checks) that " +
          "eject the backend (circuit open).",
      ),
    cooldownMs: ms(10)
      .default(5_000)
      .describe(
        "How long an ejected backend rests before a half-open probe, in ms; doubles after each " +
          "failed probe, up to 12 times this.",
      ),
  })
  .superRefine((b, ctx) => {
    if (Boolean(b.cert) !== Boolean(b.key)) {
      ctx.addIssue({
        code: "custom",
        path: [b.cert ? "key" : "cert"],
        message: "cert and key go together",
      });
    }
  });

/** One served model: a name clients use, and the GGUF behind it. */
export const modelEntrySchema = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, "letters, digits, '.', '_', ':' and '-' only")
    .describe("Name clients use in the `model` field."),
  path: z
    .string()
    .min(1)
    .optional()
    .describe(
      "Path of the GGUF file, or registry:NAME[:VERSION] for a model of the registry (NAME " +
        "follows NAME:latest and hot-swaps on promotion). Never shown to clients. May be left " +
        "out when backends serve the model.",
    ),
  replicas: z
    .union([count().max(64), replicaRangeSchema])
    .optional()
    .describe(
      "Workers for this model: a number, or {min, max} to scale between them with the load " +
        "(autoscale.*; docs/scaling.md). Default: engine.replicas.",
    ),
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
  backends: z
    .array(backendSchema)
    .max(64)
    .optional()
    .describe(
      "Remote OpenAI-compatible servers that serve this model too (or alone, without path); " +
        "see docs/architecture.md, Remote backends. Default: none.",
    ),
  routing: z
    .enum(routingPolicies)
    .optional()
    .describe(
      "How requests are spread over the local replicas and backends: least-outstanding " +
        "(the default: fewest requests in flight per slot) or prefix-affinity (a prompt prefix goes where it " +
        "went last, for the KV prefix cache, under a load guard).",
    ),
});

const autoscaleSchema = z
  .strictObject({
    intervalMs: ms(10)
      .default(1_000)
      .describe("How often an autoscaled model's queue and slots are looked at, in ms."),
    upQueueDepth: count()
      .default(2)
      .describe(
        "Requests waiting in a model's queue from which it is under pressure (so is a queue " +
          "wait p95 of upQueueWaitMs).",
      ),
    upQueueWaitMs: ms()
      .default(2_000)
      .describe(
        "Queue wait p95, over the requests that left the queue since the last look, from which " +
          "a model is under pressure, in ms.",
      ),
    upWindowMs: ms(0)
      .default(10_000)
      .describe(
        "Pressure must hold at every look for this long before one replica is added, in ms.",
      ),
    downIdleMs: ms(0)
      .default(120_000)
      .describe(
        "A replica is stopped once, for this long, nobody waited and the busy slots fit in one " +
          "replica fewer at no more than downUtilizationPercent of its slots, in ms.",
      ),
    downUtilizationPercent: z
      .number()
      .int()
      .min(0)
      .max(100)
      .default(50)
      .describe(
        "The share of one replica fewer's slots that the busy slots must stay within to count " +
          "as idle, in % (the gap to the queue that scales up is the hysteresis).",
      ),
    cooldownMs: ms(0)
      .default(30_000)
      .describe(
        "Least time between two changes of one model's replicas, and before trying again after " +
          "memory admission refused a replica, in ms.",
      ),
  })
  .prefault({});

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
    shutdownDelayMs: ms(0)
      .default(0)
      .describe(
        "On SIGTERM, how long /readyz answers 503 while requests are still served (each reply " +
          "with Connection: close) before the listener closes and the drain starts, in ms: time " +
          "for a load balancer to take the instance out. 0: close at once. Behind nginx or a " +
          "Kubernetes Service, a few seconds (docs/operations.md).",
      ),
    requestTimeoutMs: ms()
      .default(600_000)
      .describe("Longest time one generation may run end to end, in ms."),
    adminHost: z
      .string()
      .min(1)
      .default("127.0.0.1")
      .describe("Address of the admin API listener (keys, bans, usage, audit)."),
    adminPort: port.default(8081).describe("Port of the admin API listener (0 picks a free port)."),
  })
  .prefault({});

export const engineBackends = ["node-llama-cpp", "llama-server"] as const;

const engineSchema = z
  .strictObject({
    backend: z
      .enum(engineBackends)
      .default("node-llama-cpp")
      .describe(
        "What runs a model replica: node-llama-cpp (a Node worker process with the bundled " +
          "llama.cpp addon; works after npm ci) or llama-server (a supervised llama-server " +
          "process built once with `bulwark engine build` from the same llama.cpp source; " +
          "faster when several requests decode together). See docs/architecture.md.",
      ),
    llamaServerBinary: z
      .string()
      .default("")
      .describe(
        "Path of the llama-server executable for engine.backend llama-server. Empty: where " +
          "`bulwark engine build` puts it ($BULWARK_ENGINES_DIR, else ~/.bulwark/engines, then " +
          "llama-server-<llama.cpp release>/llama-server).",
      ),
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
    promptCacheBytes: count(0)
      .default(0)
      .describe(
        "engine.backend llama-server only: host memory per replica, in bytes (whole MiB: " +
          "llama-server's --cache-ram, rounded down), in which llama-server keeps the KV state " +
          "of the prompt a slot held before it took another, and restores it when a later " +
          "prompt starts with the same tokens: a long shared prefix (a system prompt, an " +
          "earlier turn) is not evaluated again. Added to every load estimate. 0 (the default): " +
          "only what the slots hold is reused.",
      ),
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
    workerNodeOptions: z
      .array(
        z
          .string()
          .regex(/^--?[A-Za-z]/, "must be a Node.js flag such as --cpu-prof or --cpu-prof-dir=DIR"),
      )
      .max(32)
      .default([])
      .describe(
        "Node.js flags for the node-llama-cpp engine worker processes, which do not inherit " +
          "the gateway's (for example --cpu-prof and --cpu-prof-dir=DIR to profile them; " +
          "docs/benchmarks.md). For measurement; leave empty in production.",
      ),
  })
  .superRefine((e, ctx) => {
    if (e.promptCacheBytes > 0 && e.backend !== "llama-server") {
      ctx.addIssue({
        code: "custom",
        path: ["promptCacheBytes"],
        message: `needs engine.backend llama-server (the ${e.backend} backend has no host prompt cache)`,
      });
    }
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
    maxTokens: count()
      .optional()
      .describe(
        "Largest max_tokens a request may ask for (400 input_too_large above it), and what a request without one gets at most. Default: the slot's context size.",
      ),
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
    maxChoices: count()
      .max(128)
      .default(8)
      .describe("Largest n (choices in one chat or completion request), each a parallel sequence."),
    maxTools: count(0).default(128).describe("Functions in one chat request's tools."),
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

const percent = z.number().min(0).max(100);

/** One model's degradation ladder: the cheaper settings it steps down to under memory pressure. */
export const ladderEntrySchema = z.strictObject({
  model: z.string().min(1).describe("Name of the served model this ladder is for."),
  slots: count()
    .max(256)
    .optional()
    .describe("Step 1: sequences per worker for workers started while degraded."),
  contextSize: count(16)
    .optional()
    .describe("Step 1: context per slot, in tokens, for workers started while degraded."),
  variantPath: z
    .string()
    .min(1)
    .optional()
    .describe("Step 2: path of a smaller quantized GGUF of the same model, for new workers."),
  maxTokens: count()
    .optional()
    .describe("Step 3: cap on max_tokens for new requests while degraded."),
});

const guardsSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .describe("Runs the memory and CPU monitor, the thresholds, shedding and load admission."),
    sampleIntervalMs: ms(10)
      .default(1_000)
      .describe("How often memory and CPU are sampled, in ms (default 1 s)."),
    memoryBudgetBytes: count(0)
      .default(0)
      .describe(
        "A memory budget for Bulwark's own processes, in bytes. 0 (default): the limit is the " +
          "cgroup v2 memory.max when one is set, else the machine's MemTotal. Set: usage is the " +
          "gateway's RSS plus every worker's RSS, against this budget.",
      ),
    warnPercent: percent
      .default(80)
      .describe(
        "Memory use that raises the warn alert and steps down the degradation ladder, in %. " +
          "Also the ceiling of load admission: a replica, or a registry model before its start " +
          "or promotion, loads only if its estimate plus the memory in use stays under it.",
      ),
    shedPercent: percent
      .default(90)
      .describe("Memory use from which new generation requests get 503 memory_pressure, in %."),
    reclaimPercent: percent
      .default(95)
      .describe(
        "Memory use that clears caches, unloads idle replicas, then stops the largest worker, in %.",
      ),
    hysteresisPercent: percent
      .default(5)
      .describe(
        "A level ends only once use falls this many points below its threshold: shedding " +
          "resumes below shedPercent − hysteresisPercent (85% by default).",
      ),
    reclaimCooldownMs: ms(0)
      .default(10_000)
      .describe(
        "Least time between two reclaim steps (so a stopped worker's memory can go), in ms.",
      ),
    unloadIdleModels: z
      .boolean()
      .default(true)
      .describe(
        "At the reclaim level, after the caches and the idle replicas, unload a whole model " +
          "that no request is using (least recently used first) before stopping a busy " +
          "worker. An unloaded model stays ready in /readyz and loads again on its next " +
          "request, which waits for the load.",
      ),
    ladderStepMs: ms(0)
      .default(10_000)
      .describe(
        "While use is at or above warnPercent the ladder steps down one rung this often, and " +
          "while it is below the warn watermark it climbs back one rung this often, in ms.",
      ),
    // Measured: a stories260K worker (1.1 MiB weights, 1.25 MiB KV) had an RSS of 104.5 MiB.
    workerOverheadBytes: count(0)
      .default(104 * MiB)
      .describe(
        "Memory a worker process takes besides weights and KV cache (Node and llama.cpp), in " +
          "bytes, added to every load estimate (default 104 MiB).",
      ),
    ladder: z
      .array(ladderEntrySchema)
      .default([])
      .describe(
        "Degradation ladder per model: [{model, slots, contextSize, variantPath, maxTokens}]; " +
          "see docs/operations.md. Steps with nothing configured are skipped.",
      ),
  })
  .superRefine((g, ctx) => {
    if (!(g.warnPercent <= g.shedPercent && g.shedPercent <= g.reclaimPercent)) {
      ctx.addIssue({
        code: "custom",
        path: ["shedPercent"],
        message: "must satisfy warnPercent <= shedPercent <= reclaimPercent",
      });
    }
  })
  .prefault({});

const alertsSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe("Evaluates the KPI alerts inside the process."),
    evaluateIntervalMs: ms(10)
      .default(5_000)
      .describe("How often the alert rules are evaluated, in ms."),
    windowMs: ms(100)
      .default(300_000)
      .describe("Sliding window each KPI is computed over, in ms (default 5 min)."),
    memoryPercent: percent.default(80).describe("Alert when memory use exceeds this, in %."),
    cpuPercent: percent
      .default(70)
      .describe("Alert when the machine's CPU use, averaged over the window, exceeds this, in %."),
    latencyP95Ms: ms()
      .default(5_000)
      .describe(
        "Alert when the P95 end-to-end latency of generation requests exceeds this, in ms.",
      ),
    errorRatePercent: percent
      .default(1)
      .describe("Alert when the share of generation requests answered 5xx exceeds this, in %."),
    availabilityPercent: percent
      .default(99.9)
      .describe("Alert when the share of successful readiness probes falls below this, in %."),
    cacheHitPercent: percent
      .default(60)
      .describe(
        "Alert when fewer than this share of generation requests' prompt tokens are spared by " +
          "a cache, in %: found in a slot's KV cache (the prefix cache), or answered whole by " +
          "the response cache (a hit counts all its prompt tokens). Traffic that neither " +
          "repeats nor shares a prefix (no common system prompt, no multi-turn chat) stays low " +
          "by nature: set 0 to turn the alert off.",
      ),
    modelLoadMs: ms()
      .default(30_000)
      .describe("Alert when a model load within the window took longer than this, in ms."),
    minSamples: count()
      .default(20)
      .describe("Requests (or cache lookups) a window needs before rates and P95 are judged."),
    webhookUrl: z
      .string()
      .url()
      .optional()
      .describe("URL that receives each firing and resolved event as a JSON POST."),
    format: z
      .enum(["json", "alertmanager"])
      .default("json")
      .describe(
        "Body of the webhook's POSTs: `json`, Bulwark's event; `alertmanager`, Alertmanager's " +
          "v2 alerts (point webhookUrl at http://alertmanager:9093/api/v2/alerts).",
      ),
    alertmanagerResendMs: ms(100)
      .default(60_000)
      .describe(
        "With format alertmanager: how often the firing alerts are sent again, in ms " +
          "(Alertmanager resolves an alert that is not re-sent before its endsAt).",
      ),
    webhookRetries: count(0)
      .default(3)
      .describe("Retries of a failed webhook delivery, with doubling delays."),
    webhookBackoffMs: ms()
      .default(500)
      .describe("Delay before the first webhook retry, in ms; doubles on each retry."),
    webhookTimeoutMs: ms()
      .default(5_000)
      .describe("Longest time one webhook delivery may take, in ms."),
  })
  .prefault({});

/** An IPv4 or IPv6 address or CIDR block ("10.0.0.0/8", "2001:db8::/32", "192.0.2.7"). */
const cidr = z.string().refine((value) => {
  const [addr, bits] = value.split("/");
  const family = isIP(addr ?? "");
  if (family === 0) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return bits !== "" && Number.isInteger(n) && n >= 0 && n <= (family === 4 ? 32 : 128);
}, "expected an IP address or CIDR block such as 10.0.0.0/8 or 2001:db8::/32");

const autoBanSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe("Ban IPs that fail auth or hit limits repeatedly."),
    authFailures: count(0)
      .default(10)
      .describe("Failed authentications within windowMs that ban an IP (0: never)."),
    rateLimitRefusals: count(0)
      .default(100)
      .describe("429 refusals within windowMs that ban an IP (0: never)."),
    windowMs: ms().default(60_000).describe("Window the offences are counted in, in ms."),
    banMs: ms().default(900_000).describe("Length of a first ban, in ms (default 15 min)."),
    escalation: z
      .number()
      .min(1)
      .default(4)
      .describe("Each repeat ban lasts this many times the previous one."),
    maxBanMs: ms()
      .default(7 * 86_400_000)
      .describe("Longest automatic ban, in ms (default 7 days)."),
    forgetAfterMs: ms()
      .default(30 * 86_400_000)
      .describe("A ban older than this no longer counts as a previous offence, in ms (30 days)."),
    exempt: z
      .array(cidr)
      .default(["127.0.0.0/8", "::1/128"])
      .describe(
        "CIDRs never banned automatically (loopback by default: a local reverse proxy without " +
          "trustedProxies would otherwise get everyone banned).",
      ),
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
  })
  .prefault({});

const securitySchema = z
  .strictObject({
    auth: z
      .boolean()
      .default(true)
      .describe(
        "Require an API key on every route but /livez and /readyz. Turning it off on a " +
          "non-loopback host is refused unless `bulwark serve --insecure`.",
      ),
    metricsPublic: z.boolean().default(false).describe("Serve /metrics without a key."),
    keyRotationGraceMs: ms(0)
      .default(86_400_000)
      .describe(
        "After `keys rotate`, how long the old secret keeps working, in ms (default 24 h).",
      ),
    ipAllow: z
      .array(cidr)
      .default([])
      .describe("When not empty, only these CIDRs may connect (IPv4 and IPv6)."),
    ipDeny: z.array(cidr).default([]).describe("CIDRs refused with 403 ip_denied."),
    trustedProxies: z
      .array(cidr)
      .default([])
      .describe(
        "Peers whose X-Forwarded-For is believed, hop by hop from the right. Empty: the header " +
          "is ignored and the socket's address is the client.",
      ),
    autoBan: autoBanSchema,
    ipv6BanPrefix: z
      .number()
      .int()
      .min(32)
      .max(128)
      .default(64)
      .describe(
        "Bits of an IPv6 address that a ban and the per-IP rate limit cover: one client commonly " +
          "holds a whole /64 and would escape by rotating within it (128: one address).",
      ),
  })
  .prefault({});

const keyDefaultsSchema = z
  .strictObject({
    rpm: count(0).default(0).describe("Requests per minute of a new key (0: unlimited)."),
    tpm: count(0)
      .default(0)
      .describe("Tokens per minute of a new key, prompt + max_tokens reserved (0: unlimited)."),
    concurrency: count(0).default(0).describe("Requests in flight of a new key (0: unlimited)."),
    dailyBudget: count(0).default(0).describe("Tokens per UTC day of a new key (0: unlimited)."),
  })
  .prefault({});

const rateLimitsSchema = z
  .strictObject({
    ipRpm: count(0)
      .default(1200)
      .describe("Requests per minute from one client IP, keyed or not, by GCRA (0: unlimited)."),
    keyDefaults: keyDefaultsSchema,
  })
  .prefault({});

const accessLogSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe("Write the access log file."),
    file: z.string().default("").describe("Access log path. Empty: <home>/logs/access.log."),
    maxBytes: count(0)
      .default(100 * MiB)
      .describe("Rotate when the file reaches this size, in bytes (default 100 MiB; 0: never)."),
    daily: z.boolean().default(true).describe("Also rotate at UTC midnight."),
    keepFiles: count(0).default(14).describe("Rotated files kept; older ones are deleted."),
  })
  .prefault({});

const backupScheduleSchema = z
  .strictObject({
    intervalMs: ms(0)
      .default(0)
      .describe(
        "How often the running server takes a backup of its whole state, in ms; 0 (default) " +
          "turns the schedule off. Recovery point: at most one interval.",
      ),
    keep: count(1)
      .default(7)
      .describe("Scheduled runs keep this many newest backups in backup.dir and prune the rest."),
  })
  .prefault({});

const backupSchema = z
  .strictObject({
    dir: z
      .string()
      .default("")
      .describe(
        "Folder of `bulwark backup` and of the server's backups. Empty (default): <home>/backups; " +
          "put it on another disk or machine to survive the loss of this one.",
      ),
    includeModels: z
      .boolean()
      .default(true)
      .describe(
        "Backups taken by the server (schedule, admin API) hold the registry's model files, by " +
          "content digest: a model already in backup.dir is not copied again.",
      ),
    encrypt: z
      .boolean()
      .default(false)
      .describe(
        "Backups taken by the server are encrypted (AES-256-GCM) with the data key of " +
          "BULWARK_DATA_KEY_FILE or BULWARK_DATA_KEY.",
      ),
    schedule: backupScheduleSchema,
  })
  .prefault({});

const cacheSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .describe(
        "The exact response cache for chat completions, completions and embeddings " +
          "(docs/api.md, Response cache). Off: every request goes to the engine.",
      ),
    maxBytes: count(0)
      .default(64 * MiB)
      .describe("Memory the in-process cache (L1) may hold, in bytes (default 64 MiB)."),
    maxEntryBytes: count(1024)
      .default(1 * MiB)
      .describe("Largest single answer that is stored, in bytes (default 1 MiB)."),
    ttlMs: ms()
      .default(3_600_000)
      .describe(
        "How long an entry lives, in ms (default 1 h); `x-bulwark-cache: ttl=S` sets it per request.",
      ),
    maxTtlMs: ms()
      .default(86_400_000)
      .describe("Most a request's `ttl=SECONDS` may ask for, in ms (default 24 h)."),
    redis: z
      .boolean()
      .default(true)
      .describe(
        "With state.backend redis, a second tier on the fleet's Redis that every gateway " +
          "shares (values compressed, and sealed with the data key when BULWARK_DATA_KEY_FILE " +
          "is set; Redis's expiry as their TTL; a Redis failure is a miss " +
          "within state.commandTimeoutMs). Off: each gateway keeps its own cache only.",
      ),
    sampled: z
      .boolean()
      .default(false)
      .describe(
        "Also cache sampled generations (temperature above 0 and no seed). Off (default): only " +
          "requests whose output is determined (temperature 0, or a seed) are cached.",
      ),
    semanticMinThreshold: z
      .number()
      .min(0)
      .max(1)
      .default(0.9)
      .describe(
        "The floor of every key's semantic-cache threshold (cosine similarity, 0..1): a key's " +
          "`cache.semantic.threshold` below it counts as this; a request may only raise it " +
          "(`x-bulwark-semantic-threshold`).",
      ),
    semanticMaxEntries: count()
      .default(10_000)
      .describe(
        "Questions the semantic cache remembers per namespace (each key without one is its own); " +
          "the oldest leave first.",
      ),
    countHitTokens: z
      .boolean()
      .default(false)
      .describe(
        "A hit's tokens count against the key's tokens per minute and daily budget. Off " +
          "(default): a hit costs the key no tokens, only a request.",
      ),
  })
  .prefault({});

const dashboardSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .describe("Serve the operator's web dashboard at /dashboard on the admin listener."),
    sampleMs: ms(100)
      .default(5_000)
      .describe("How often the dashboard's live feed samples the server, in ms."),
    historyMs: ms(1_000)
      .default(3_600_000)
      .describe("How much KPI history the dashboard's charts show, in ms (default 1 h)."),
    sessionIdleMs: ms(1_000)
      .default(1_800_000)
      .describe("A dashboard session unused this long ends, in ms (default 30 min)."),
    sessionMaxAgeMs: ms(1_000)
      .default(43_200_000)
      .describe("A dashboard session ends this long after login, in ms (default 12 h)."),
    secureCookie: z
      .boolean()
      .default(false)
      .describe(
        "Mark the session cookie Secure even on a plain-HTTP connection: set it when a proxy " +
          "that terminates TLS fronts the admin listener (on a TLS connection it always is).",
      ),
  })
  .prefault({});

const stateSchema = z
  .strictObject({
    backend: z
      .enum(["memory", "redis"])
      .default("memory")
      .describe(
        "Where limits, reservations, in-flight counts, daily budgets, offence counters, and the " +
          "change feed of bans and keys live: memory (this process only) or redis (shared by " +
          "every instance that names the same state.redisUrl). Flag: serve --state URL.",
      ),
    redisUrl: z
      .string()
      .default("")
      .refine((v) => v === "" || /^rediss?:\/\//.test(v), "must start with redis:// or rediss://")
      .describe(
        "Redis URL for state.backend redis: redis://[user:pass@]host:port[/db] or rediss://.",
      ),
    keyPrefix: z
      .string()
      .default("bulwark:")
      .describe("Prefix of every Redis key and channel, so that fleets can share one Redis."),
    commandTimeoutMs: ms()
      .max(10_000)
      .default(50)
      .describe("A Redis call with no answer after this long counts as failed, in ms."),
    connectTimeoutMs: ms()
      .default(1_000)
      .describe("Time to open a connection to Redis before it counts as down, in ms."),
    onRedisDown: z
      .enum(["closed", "open"])
      .default("closed")
      .describe(
        "While Redis cannot be reached: closed refuses limited requests with 503 " +
          "state_unavailable and Retry-After (and /readyz is 503); open admits them through " +
          "this instance's own limiter, each such decision counted and logged.",
      ),
    breakerFailures: count()
      .default(3)
      .describe(
        "Consecutive failed Redis calls that open the circuit (no more calls for a while).",
      ),
    breakerCooldownMs: ms()
      .default(1_000)
      .describe("How long an open circuit stays open before one call tries Redis again, in ms."),
    syncIntervalMs: ms(100)
      .default(1_000)
      .describe(
        "Backstop of the ban and key change feed: each instance rereads the shared records " +
          "this often, in ms, in case it missed a published change. Also how often each " +
          "instance sends its changed usage rows to Redis (the fleet's usage reports).",
      ),
    leaseMs: ms(1_000)
      .default(660_000)
      .describe(
        "A request's hold on its key's in-flight count expires after this long, in ms, so " +
          "that an instance killed mid-request does not hold the count forever.",
      ),
  })
  .prefault({});

const instanceSchema = z
  .strictObject({
    id: z
      .string()
      .regex(/^$|^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/, "letters, digits, '.', '_', ':' and '-' only")
      .default("")
      .describe(
        "This instance's name in /health, logs, metric labels and audit entries. Empty: " +
          "hostname:port of the public API.",
      ),
  })
  .prefault({});

const tlsSchema = z
  .strictObject({
    cert: z
      .string()
      .default("")
      .describe(
        "PEM certificate (chain) file for both listeners; with `tls.key`, they serve HTTPS " +
          "(TLS 1.2 minimum). Empty (default): plain HTTP. Reloaded when the file changes.",
      ),
    key: z.string().default("").describe("PEM private key file of `tls.cert`."),
    ca: z
      .string()
      .default("")
      .describe("PEM CA file that client certificates must chain to (`tls.adminClientCerts`)."),
    adminClientCerts: z
      .boolean()
      .default(false)
      .describe(
        "mTLS on the admin listener: a client must present a certificate signed by `tls.ca` " +
          "before any request (the key is still needed).",
      ),
    reloadIntervalMs: z
      .number()
      .int()
      .min(100)
      .default(5_000)
      .describe(
        "How often the certificate, key and CA files are checked for changes, in ms; a change " +
          "applies to new connections without dropping open ones.",
      ),
  })
  .superRefine((t, ctx) => {
    if (Boolean(t.cert) !== Boolean(t.key)) {
      ctx.addIssue({
        code: "custom",
        path: [t.cert ? "key" : "cert"],
        message: "tls.cert and tls.key go together",
      });
    }
    if (t.adminClientCerts && (!t.ca || !t.cert)) {
      ctx.addIssue({
        code: "custom",
        path: ["adminClientCerts"],
        message: "needs tls.cert, tls.key and tls.ca",
      });
    }
  })
  .prefault({});

const batchSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .describe(
        "The Files and Batch API (`/v1/files`, `/v1/batches`; docs/api.md, Batches). Off: both " +
          "answer 404 and no batch runs.",
      ),
    maxFileBytes: count()
      .default(200 * MiB)
      .describe("Largest file `POST /v1/files` takes, in bytes (default 200 MiB, OpenAI's limit)."),
    maxRequestsPerBatch: count()
      .default(50_000)
      .describe("Most request lines in one batch input file (default 50,000, OpenAI's limit)."),
    maxFilesPerKey: count()
      .default(100)
      .describe("Files a key may hold at once (uploads and batch outputs)."),
    maxBytesPerKey: count()
      .default(2 * 1024 * MiB)
      .describe("Bytes a key's files may take on disk together (default 2 GiB)."),
    maxBatchesInFlightPerKey: count()
      .default(10)
      .describe("Batches of one key that may be unfinished (validating to cancelling) at once."),
    slotShare: z
      .number()
      .gt(0)
      .max(1)
      .default(0.5)
      .describe(
        "Share of a model's slots that batch lines may hold at once (0..1, at least one slot); " +
          "interactive requests always go first and take a running line's slot at its next token.",
      ),
    yieldTo: z
      .enum(["running", "waiting"])
      .default("running")
      .describe(
        "When batch lines give way to interactive requests: running (default), lines run only " +
          "while no interactive request runs or waits on the model, and each running line stops " +
          "at its next token when one arrives (on CPUs they share the decode step, not just the " +
          "slot); waiting, a line gives its slot up only when an interactive request waits for one.",
      ),
    concurrency: count()
      .max(256)
      .default(4)
      .describe("Batch lines the runner keeps in flight at once, over all batches and models."),
    maxAttempts: count()
      .max(10)
      .default(3)
      .describe(
        "Times a line is tried when the engine fails under it; a line refused for a limit " +
          "(429, a full queue) waits and is not counted.",
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
    autoscale: autoscaleSchema,
    limits: limitsSchema,
    log: logSchema,
    guards: guardsSchema,
    alerts: alertsSchema,
    security: securitySchema,
    tls: tlsSchema,
    rateLimits: rateLimitsSchema,
    accessLog: accessLogSchema,
    state: stateSchema,
    instance: instanceSchema,
    registry: registrySchema,
    backup: backupSchema,
    cache: cacheSchema,
    dashboard: dashboardSchema,
    batch: batchSchema,
    models: z
      .array(modelEntrySchema)
      .default([])
      .describe("Models to serve. With none, `bulwark serve` serves the built-in demo model."),
  })
  .strict();

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type ModelEntry = z.output<typeof modelEntrySchema>;
export type ReplicaRange = z.output<typeof replicaRangeSchema>;
export type AutoscaleSettings = z.output<typeof autoscaleSchema>;
export type BackendEntry = z.output<typeof backendSchema>;
export type LadderEntry = z.output<typeof ladderEntrySchema>;
export type GpuSetting = z.output<typeof gpuSchema>;
