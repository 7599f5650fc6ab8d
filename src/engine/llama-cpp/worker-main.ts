/**
 * Entry point of an engine worker process (forked by LlamaCppReplica). It waits for `init`,
 * loads the model, answers requests over IPC and sends a heartbeat on a timer. Any protocol
 * error or load failure ends the process: the supervisor restarts it.
 */
import { memoryUsage } from "node:process";
import type { LlamaContextSequence } from "node-llama-cpp";
import {
  decodeParentMessage,
  encode,
  ProtocolError,
  type ParentMessage,
  type WorkerMessage,
} from "./protocol.js";
import { LlamaRuntime } from "./runtime.js";
import { runGeneration, type GenerationControl } from "./generation.js";
import type { GenerationJob } from "../types.js";

if (!process.send) {
  console.error("the engine worker must be started by the gateway (it needs an IPC channel)");
  process.exit(2);
}

function send(message: WorkerMessage): void {
  process.send?.(encode(message));
}

const log = (level: "debug" | "info" | "warn" | "error", message: string) =>
  send({ type: "log", level, message });

let runtime: LlamaRuntime | undefined;
let testHooks = false;
let generatedTokens = 0;
let shuttingDown = false;
const running = new Map<string, GenerationControl & { abortedFlag: boolean }>();
/** Jobs waiting for a sequence: the gateway never sends more than `slots`, but a released
 * sequence is only returned after the done message, so a job can arrive a moment early. */
const waiting: { job: GenerationJob }[] = [];

function errorCode(err: unknown): string {
  if (err && typeof err === "object" && "code" in err && typeof err.code === "string") {
    return err.code;
  }
  return "internal_error";
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function startJob(job: GenerationJob): void {
  const rt = runtime!;
  const sequence = rt.acquireSequence(job.prompt.tokens);
  if (!sequence) {
    waiting.push({ job });
    return;
  }
  const control = {
    abortedFlag: false,
    aborted() {
      return this.abortedFlag;
    },
    hang: testHooks && job.testHook === "hang",
    crash: testHooks && job.testHook === "crash",
  };
  running.set(job.id, control);
  send({ type: "started", id: job.id });
  void runJob(rt, sequence, job, control);
}

async function runJob(
  rt: LlamaRuntime,
  sequence: LlamaContextSequence,
  job: GenerationJob,
  control: GenerationControl,
): Promise<void> {
  try {
    await runGeneration(
      rt,
      sequence,
      job,
      {
        text: (text, ids, pending, logprobs) => {
          generatedTokens += ids.length;
          const message: WorkerMessage = {
            type: "token",
            id: job.id,
            text,
            tokens: ids.length,
            ids,
          };
          if (pending) message.pending = pending;
          if (logprobs) message.logprobs = logprobs;
          send(message);
        },
        prompt: ({ first, logprobs }) =>
          send({ type: "prompt_logprobs", id: job.id, first, logprobs }),
        done: (result) => send({ type: "done", id: job.id, ...result }),
      },
      control,
    );
  } catch (err) {
    // Disposing the context at shutdown fails the jobs still running: say why.
    const code = shuttingDown ? "shutting_down" : errorCode(err);
    send({ type: "job_error", id: job.id, code, message: messageOf(err) });
  } finally {
    running.delete(job.id);
    rt.releaseSequence(sequence);
    const next = waiting.shift();
    if (next) startJob(next.job);
  }
}

async function handle(message: ParentMessage): Promise<void> {
  if (message.type === "init") return; // only valid once, handled at start
  const rt = runtime;
  if (!rt) throw new ProtocolError(`${message.type} before init`);
  switch (message.type) {
    case "prepare":
      try {
        send({ type: "result", id: message.id, value: rt.prepare(message.input) });
      } catch (err) {
        send({ type: "failure", id: message.id, code: errorCode(err), message: messageOf(err) });
      }
      return;
    case "generate":
      startJob(message.job);
      return;
    case "abort": {
      const control = running.get(message.id);
      if (control) control.abortedFlag = true;
      const index = waiting.findIndex((w) => w.job.id === message.id);
      if (index !== -1) {
        waiting.splice(index, 1);
        send({
          type: "done",
          id: message.id,
          finishReason: "abort",
          promptTokens: 0,
          completionTokens: 0,
          cachedTokens: 0,
          promptMs: 0,
          generationMs: 0,
        });
      }
      return;
    }
    case "embed":
      try {
        send({ type: "started", id: message.id });
        send({ type: "result", id: message.id, value: await rt.embed(message.inputs) });
      } catch (err) {
        send({ type: "failure", id: message.id, code: errorCode(err), message: messageOf(err) });
      }
      return;
    case "detokenize":
      try {
        send({ type: "result", id: message.id, value: rt.decode(message.tokens) });
      } catch (err) {
        send({ type: "failure", id: message.id, code: errorCode(err), message: messageOf(err) });
      }
      return;
    case "shutdown":
      await shutdown(0);
      return;
  }
}

async function shutdown(code: number): Promise<never> {
  shuttingDown = true;
  try {
    await runtime?.close();
  } finally {
    process.exit(code);
  }
}

function onFirstMessage(raw: unknown): void {
  let message: ParentMessage;
  try {
    message = decodeParentMessage(raw);
  } catch (err) {
    send({ type: "load_failed", message: messageOf(err) });
    process.exit(2);
  }
  if (message.type !== "init") {
    send({ type: "load_failed", message: `expected init, got ${message.type}` });
    process.exit(2);
  }
  process.off("message", onFirstMessage);
  testHooks = message.testHooks;
  const startedAt = Date.now();
  setInterval(() => {
    send({
      type: "heartbeat",
      stats: {
        busySlots: runtime?.busySlots ?? 0,
        generatedTokens,
        rssBytes: memoryUsage.rss(),
      },
    });
  }, message.heartbeatIntervalMs).unref();
  LlamaRuntime.load(message.spec, log, startedAt).then(
    (loaded) => {
      runtime = loaded;
      process.on("message", (next: unknown) => {
        let decoded: ParentMessage;
        try {
          decoded = decodeParentMessage(next);
        } catch (err) {
          log("error", `protocol error: ${messageOf(err)}`);
          process.exit(3);
        }
        handle(decoded).catch((err: unknown) => {
          log("error", `worker failed: ${messageOf(err)}`);
          process.exit(4);
        });
      });
      send({ type: "ready", info: loaded.info });
    },
    (err: unknown) => {
      send({ type: "load_failed", message: messageOf(err) });
      setTimeout(() => process.exit(1), 50);
    },
  );
}

process.on("message", onFirstMessage);
// The gateway going away (IPC closed) ends the worker: an orphan would hold memory and cores.
process.on("disconnect", () => process.exit(0));
process.on("SIGTERM", () => void shutdown(0));
