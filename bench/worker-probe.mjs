// Measurement probe for an engine worker, loaded into it with --import through
// engine.workerNodeOptions (bench/worker-breakdown.mjs does this). It wraps every method of
// node-llama-cpp's native addon classes (AddonModel, AddonContext, AddonSampler, …) to count the
// JS→native calls, times each decodeBatch (llama.cpp's decode of one batch) and sampleToken,
// records the tokens in each batch, and counts the IPC messages the worker sends by type.
// When the worker exits it writes everything as JSON to $BULWARK_PROBE_OUT-<pid>.json.
// Not part of the product: the worker runs without it unless a measurement asks for it.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";

// Only the engine worker: node-llama-cpp checks its binary in a child of the worker, which
// inherits the worker's flags and must be left alone.
const isWorker = /worker-main\.js$/.test(process.argv[1] ?? "");
const { LlamaModel } = isWorker ? await import("node-llama-cpp") : {};
const out = isWorker ? process.env.BULWARK_PROBE_OUT : undefined;
const calls = {};
/** One entry per decodeBatch: start (ms, performance.now), duration (ms), tokens in the batch. */
const steps = [];
const sampling = { count: 0, totalMs: 0 };
const ipc = {};
let generatedTokens = 0;
let pendingBatchTokens = 0;

function count(label) {
  calls[label] = (calls[label] ?? 0) + 1;
}

/** Wraps every method of one addon object (on the instance: N-API methods are read-only). */
function wrapInstance(name, instance) {
  const proto = Object.getPrototypeOf(instance);
  for (const key of Object.getOwnPropertyNames(proto)) {
    const descriptor = Object.getOwnPropertyDescriptor(proto, key);
    if (key === "constructor" || typeof descriptor?.value !== "function") continue;
    const original = descriptor.value;
    const label = `${name}.${key}`;
    let wrapper;
    if (name === "AddonContext" && key === "initBatch") {
      wrapper = function (size, ...rest) {
        count(label);
        pendingBatchTokens = size;
        return original.call(this, size, ...rest);
      };
    } else if (name === "AddonContext" && key === "decodeBatch") {
      wrapper = function (...args) {
        count(label);
        const step = { start: performance.now(), ms: 0, tokens: pendingBatchTokens };
        steps.push(step);
        const done = () => (step.ms = performance.now() - step.start);
        const result = original.apply(this, args);
        void Promise.resolve(result).then(done, done);
        return result;
      };
    } else if (name === "AddonContext" && key === "sampleToken") {
      wrapper = function (...args) {
        count(label);
        const start = performance.now();
        const done = () => {
          sampling.count += 1;
          sampling.totalMs += performance.now() - start;
        };
        const result = original.apply(this, args);
        void Promise.resolve(result).then(done, done);
        return result;
      };
    } else {
      wrapper = function (...args) {
        count(label);
        return original.apply(this, args);
      };
    }
    Object.defineProperty(instance, key, { value: wrapper, writable: true, configurable: true });
  }
  return instance;
}

/** The addon's class, whose every new instance is wrapped. */
function wrapConstructor(name, Original) {
  function Wrapped(...args) {
    return wrapInstance(name, new Original(...args));
  }
  Wrapped.prototype = Original.prototype;
  return Wrapped;
}

// The addon is reachable once a model exists: when the first context is made, before any
// generation, wrap the model's addon object and swap the Llama's bindings for a copy whose
// classes wrap each instance they make (contexts, samplers, grammar states).
let wrapped = false;
const createContext = LlamaModel?.prototype.createContext;
if (LlamaModel)
  LlamaModel.prototype.createContext = function (...args) {
    if (!wrapped) {
      wrapped = true;
      wrapInstance("AddonModel", this._model);
      const original = this._llama._bindings;
      const bindings = {};
      for (const name of Object.getOwnPropertyNames(original)) {
        const value = original[name];
        bindings[name] =
          /^Addon(Context|Sampler|Grammar)/.test(name) && typeof value === "function"
            ? wrapConstructor(name, value)
            : value;
      }
      this._llama._bindings = bindings;
    }
    return createContext.apply(this, args);
  };

const send = isWorker ? process.send?.bind(process) : undefined;
if (send) {
  process.send = (message, ...rest) => {
    const type = typeof message?.type === "string" ? message.type : "other";
    ipc[type] = (ipc[type] ?? 0) + 1;
    if (type === "token") generatedTokens += Number(message.tokens ?? 0);
    return send(message, ...rest);
  };
}

/** CPU seconds of each thread of this process (Linux /proc; USER_HZ is 100 there). */
function threadTimes() {
  try {
    return readdirSync("/proc/self/task").map((tid) => {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const name = readFileSync(`/proc/self/task/${tid}/comm`, "utf8").trim();
      return { tid: Number(tid), name, cpuS: (Number(fields[11]) + Number(fields[12])) / 100 };
    });
  } catch {
    return [];
  }
}

process.on("exit", () => {
  if (!out) return;
  const threads = threadTimes().filter((t) => t.cpuS > 0);
  writeFileSync(
    `${out}-${process.pid}.json`,
    JSON.stringify({ pid: process.pid, generatedTokens, calls, ipc, sampling, threads, steps }),
  );
});
