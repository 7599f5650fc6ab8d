/**
 * The typed IPC protocol between the gateway and an engine worker (child_process.fork, JSON
 * serialization). Every message carries the protocol version; decoders validate the shape and
 * throw ProtocolError on anything else, so a confused peer is detected rather than trusted.
 *
 * Parent → worker: init, prepare, generate, abort, embed, detokenize, shutdown.
 * Worker → parent: ready, load_failed, result, failure, started, token, done, job_error,
 * heartbeat, log.
 *
 * Version 3: `token` may carry log-probabilities, and `prompt_logprobs` those of the prompt;
 * the model's info states its features; a chat prompt may hold tools and tool calls.
 *
 * Version 2: `token` names the ids of the tokens its text completes and the text still held
 * back (`pending`), `started` says a job or an embedding call began evaluating, and a job may
 * resume a generation a dead worker began (`resume`).
 */
import { z } from "zod";
import type {
  GenerationJob,
  ModelInfo,
  PreparedPrompt,
  PromptInput,
  ReplicaSpec,
  TokenLogprob,
} from "../types.js";

export const PROTOCOL_VERSION = 3;

export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}

const promptInputSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("text"), text: z.string(), addSpecial: z.boolean() }),
  z.object({ kind: z.literal("tokens"), tokens: z.array(z.number().int().min(0)) }),
  z.object({
    kind: z.literal("chat"),
    messages: z.array(
      z.object({
        role: z.enum(["system", "developer", "user", "assistant", "tool"]),
        content: z.string(),
        toolCalls: z
          .array(z.object({ id: z.string(), name: z.string(), arguments: z.string() }))
          .optional(),
        toolCallId: z.string().optional(),
      }),
    ),
    tools: z
      .array(
        z.object({
          name: z.string(),
          description: z.string().optional(),
          parameters: z.record(z.string(), z.unknown()).optional(),
        }),
      )
      .optional(),
  }),
]);

const preparedSchema = z.object({
  tokens: z.array(z.number().int().min(0)),
  stopStrings: z.array(z.string()),
  stopTokens: z.array(z.number().int().min(0)),
});

const jobSchema = z.object({
  id: z.string(),
  prompt: preparedSchema,
  sampling: z.object({
    temperature: z.number(),
    topP: z.number(),
    topK: z.number().int(),
    minP: z.number(),
    seed: z.number().int().optional(),
    presencePenalty: z.number(),
    frequencyPenalty: z.number(),
    logitBias: z.record(z.string(), z.number().nullable()).optional(),
  }),
  // 0: nothing is generated (completions echo with max_tokens 0).
  maxTokens: z.number().int().min(0),
  stop: z.array(z.string()),
  ignoreEos: z.boolean(),
  grammar: z
    .discriminatedUnion("kind", [
      z.object({ kind: z.literal("json") }),
      z.object({ kind: z.literal("gbnf"), text: z.string() }),
    ])
    .optional(),
  logprobs: z.number().int().min(0).max(20).optional(),
  promptLogprobs: z.boolean().optional(),
  testHook: z.enum(["hang", "crash"]).optional(),
  resume: z.object({ tokens: z.array(z.number().int().min(0)), pending: z.string() }).optional(),
});

const specSchema = z.object({
  id: z.string(),
  modelName: z.string(),
  modelPath: z.string(),
  slots: z.number().int().min(1),
  threads: z.number().int().min(1),
  contextSize: z.number().int().min(1),
  batchSize: z.number().int().min(1),
  gpu: z.string(),
  chatWrapper: z.string(),
});

const parentMessageSchema = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("init"),
    spec: specSchema,
    heartbeatIntervalMs: z.number().int().min(1),
    testHooks: z.boolean(),
  }),
  z.object({ type: z.literal("prepare"), id: z.string(), input: promptInputSchema }),
  z.object({ type: z.literal("generate"), job: jobSchema }),
  z.object({ type: z.literal("abort"), id: z.string() }),
  z.object({ type: z.literal("embed"), id: z.string(), inputs: z.array(promptInputSchema) }),
  z.object({ type: z.literal("detokenize"), id: z.string(), tokens: z.array(z.number().int()) }),
  z.object({ type: z.literal("shutdown") }),
]);

export type ParentMessage =
  | { type: "init"; spec: ReplicaSpec; heartbeatIntervalMs: number; testHooks: boolean }
  | { type: "prepare"; id: string; input: PromptInput }
  | { type: "generate"; job: GenerationJob }
  | { type: "abort"; id: string }
  | { type: "embed"; id: string; inputs: PromptInput[] }
  | { type: "detokenize"; id: string; tokens: number[] }
  | { type: "shutdown" };

export interface HeartbeatStats {
  busySlots: number;
  generatedTokens: number;
  rssBytes: number;
}

export type WorkerMessage =
  | { type: "ready"; info: ModelInfo }
  | { type: "load_failed"; message: string }
  | { type: "result"; id: string; value: unknown }
  | { type: "failure"; id: string; code: string; message: string }
  | { type: "started"; id: string }
  | {
      type: "token";
      id: string;
      text: string;
      tokens: number;
      ids: number[];
      pending?: string;
      logprobs?: TokenLogprob[];
    }
  | { type: "prompt_logprobs"; id: string; first: string; logprobs: TokenLogprob[] }
  | {
      type: "done";
      id: string;
      finishReason: "stop" | "length" | "abort";
      promptTokens: number;
      completionTokens: number;
      cachedTokens: number;
      promptMs: number;
      generationMs: number;
    }
  | { type: "job_error"; id: string; code: string; message: string }
  | { type: "heartbeat"; stats: HeartbeatStats }
  | { type: "log"; level: "debug" | "info" | "warn" | "error"; message: string };

type Envelope<T> = T & { v: number };

/** Stamps a message with the protocol version. */
export function encode<T extends ParentMessage | WorkerMessage>(message: T): Envelope<T> {
  return { ...message, v: PROTOCOL_VERSION };
}

function checkEnvelope(raw: unknown): Record<string, unknown> {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ProtocolError("message is not an object");
  }
  const record = raw as Record<string, unknown>;
  if (record.v !== PROTOCOL_VERSION) {
    throw new ProtocolError(`protocol version ${String(record.v)} is not ${PROTOCOL_VERSION}`);
  }
  if (typeof record.type !== "string") throw new ProtocolError("message has no type");
  return record;
}

/** Validates a message the worker received. */
export function decodeParentMessage(raw: unknown): ParentMessage {
  const record = checkEnvelope(raw);
  const result = parentMessageSchema.safeParse(record);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ProtocolError(
      `bad ${String(record.type)} message at ${issue?.path.join(".") || "(root)"}: ${issue?.message}`,
    );
  }
  const message = result.data as ParentMessage;
  if (message.type === "generate" && message.job.sampling.logitBias) {
    // JSON has no -Infinity: null stands for "never sample this token".
    const bias: Record<number, number> = {};
    for (const [k, v] of Object.entries(message.job.sampling.logitBias)) {
      bias[Number(k)] = v === null ? -Infinity : v;
    }
    message.job.sampling.logitBias = bias;
  }
  return message;
}

/** JSON-safe copy of a job (−Infinity biases become null). */
export function encodeJob(job: GenerationJob): GenerationJob {
  if (!job.sampling.logitBias) return job;
  const bias: Record<number, number | null> = {};
  for (const [k, v] of Object.entries(job.sampling.logitBias)) {
    bias[Number(k)] = Number.isFinite(v) ? v : null;
  }
  return { ...job, sampling: { ...job.sampling, logitBias: bias as Record<number, number> } };
}

const str = (r: Record<string, unknown>, k: string): string => {
  const v = r[k];
  if (typeof v !== "string") throw new ProtocolError(`field ${k} must be a string`);
  return v;
};
const num = (r: Record<string, unknown>, k: string): number => {
  const v = r[k];
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new ProtocolError(`field ${k} must be a number`);
  }
  return v;
};

const tokenIds = (r: Record<string, unknown>): number[] => {
  const v = r.ids;
  if (!Array.isArray(v) || !v.every((t) => Number.isInteger(t) && (t as number) >= 0)) {
    throw new ProtocolError("field ids must be an array of token ids");
  }
  return v as number[];
};

const alternativeSchema = z.object({
  token: z.string(),
  bytes: z.array(z.number().int().min(0).max(255)),
  // JSON has no -Infinity: a token the sampler ruled out arrives as null.
  logprob: z.number().nullable(),
});
const logprobListSchema = z.array(
  alternativeSchema.extend({ top: z.array(alternativeSchema).max(20) }),
);

function logprobList(value: unknown): TokenLogprob[] {
  const result = logprobListSchema.safeParse(value);
  if (!result.success) throw new ProtocolError("bad logprobs");
  const finite = (v: number | null) => (v === null ? -Infinity : v);
  return result.data.map((e) => ({
    ...e,
    logprob: finite(e.logprob),
    top: e.top.map((t) => ({ ...t, logprob: finite(t.logprob) })),
  }));
}

const modelInfoSchema = z.object({
  contextSize: z.number(),
  trainContextSize: z.number(),
  slots: z.number(),
  vocabularySize: z.number(),
  embeddingSize: z.number(),
  architecture: z.string(),
  chatFormat: z.string(),
  bosToken: z.number().nullable(),
  eosToken: z.number().nullable(),
  loadMs: z.number(),
  gpu: z.string(),
  threads: z.number(),
  features: z.object({
    embeddings: z.boolean(),
    promptLogprobs: z.boolean(),
    toolCallFormat: z.string().nullable(),
  }),
});

/**
 * Validates a message the parent received. Token and heartbeat messages are the hot path and are
 * checked by hand; the rest go through zod.
 */
export function decodeWorkerMessage(raw: unknown): WorkerMessage {
  const r = checkEnvelope(raw);
  switch (r.type) {
    case "token": {
      const message: WorkerMessage = {
        type: "token",
        id: str(r, "id"),
        text: str(r, "text"),
        tokens: num(r, "tokens"),
        ids: tokenIds(r),
      };
      if (r.pending !== undefined) message.pending = str(r, "pending");
      if (r.logprobs !== undefined) message.logprobs = logprobList(r.logprobs);
      return message;
    }
    case "prompt_logprobs":
      return {
        type: "prompt_logprobs",
        id: str(r, "id"),
        first: str(r, "first"),
        logprobs: logprobList(r.logprobs),
      };
    case "started":
      return { type: "started", id: str(r, "id") };
    case "done": {
      const finishReason = str(r, "finishReason");
      if (finishReason !== "stop" && finishReason !== "length" && finishReason !== "abort") {
        throw new ProtocolError(`bad finishReason ${finishReason}`);
      }
      return {
        type: "done",
        id: str(r, "id"),
        finishReason,
        promptTokens: num(r, "promptTokens"),
        completionTokens: num(r, "completionTokens"),
        cachedTokens: num(r, "cachedTokens"),
        promptMs: num(r, "promptMs"),
        generationMs: num(r, "generationMs"),
      };
    }
    case "heartbeat": {
      const stats = r.stats;
      if (typeof stats !== "object" || stats === null) throw new ProtocolError("bad heartbeat");
      const s = stats as Record<string, unknown>;
      return {
        type: "heartbeat",
        stats: {
          busySlots: num(s, "busySlots"),
          generatedTokens: num(s, "generatedTokens"),
          rssBytes: num(s, "rssBytes"),
        },
      };
    }
    case "result":
      return { type: "result", id: str(r, "id"), value: r.value };
    case "failure":
    case "job_error":
      return { type: r.type, id: str(r, "id"), code: str(r, "code"), message: str(r, "message") };
    case "ready": {
      const info = modelInfoSchema.safeParse(r.info);
      if (!info.success) throw new ProtocolError("bad ready message");
      return { type: "ready", info: info.data };
    }
    case "load_failed":
      return { type: "load_failed", message: str(r, "message") };
    case "log": {
      const level = str(r, "level");
      if (level !== "debug" && level !== "info" && level !== "warn" && level !== "error") {
        throw new ProtocolError(`bad log level ${level}`);
      }
      return { type: "log", level, message: str(r, "message") };
    }
    default:
      throw new ProtocolError(`unknown message type ${String(r.type)}`);
  }
}

/** Validates a prepared prompt returned in a result message. */
export function decodePrepared(value: unknown): PreparedPrompt {
  const result = preparedSchema.safeParse(value);
  if (!result.success) throw new ProtocolError("bad prepared prompt");
  return result.data;
}
