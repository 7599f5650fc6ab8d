#!/usr/bin/env node
// Worker kills under load: Bulwark serves one model with several replicas while a closed loop of
// chat completions (alternately streamed and not) runs against it, and every --kill-every
// seconds a random engine worker gets SIGKILL. The goal is no failed request at all: a request
// whose worker dies is retried, or its stream resumed, on a live replica.
//
//   node bench/soak-kill.mjs [--model PATH] [--engine-backend node-llama-cpp|llama-server]
//        [--replicas 2] [--threads 1] [--slots 4] [--ctx 512] [--concurrency 4]
//        [--duration 600] [--kill-every 30] [--max-tokens 64] [--temperature 0]
//        [--prompts 8] [--request-timeout 120] [--json FILE] [--server-log FILE]
//
// --model defaults to ../shared/models/stories260K.gguf (relative to the repository). The
// llama-server backend needs `bulwark engine build` first. Run `npm run build` first.
//
// The server runs as deployed: its own fresh home, API keys on (the bench holds the first admin
// key), on a free 127.0.0.1 port, with no per-address rate limit (all the load comes from one
// address); the bench stops it by PID at the end, also on Ctrl-C.
// Only worker processes are killed: their PIDs come from the server's /health (each replica's
// pid: the Node worker, or the llama-server child), and a PID is killed only when it is a child
// of the server this bench started.
//
// A request fails when its HTTP status is not 200, a stream ends without `data: [DONE]` or
// carries an error event, a plain answer has no choices, or the connection breaks. With
// temperature 0 each answer's text is also compared with the answer to the same prompt taken
// before the first kill (one request at a time); a difference is a mismatch, reported apart
// for requests the server re-ran after their worker died (its log names them by request id),
// for the others during which a worker was killed, and for the rest (batching alone can change
// llama.cpp's greedy result in the last bits).
//
// Prints a markdown summary; --json FILE writes the raw figures. Exits 1 when a request failed
// or a greedy answer that overlapped a kill differs from the reference.
import { spawn } from "node:child_process";
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { dirname, join, resolve } from "node:path";
import { engineBenchEnv, freePort, stop } from "./serve-child.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    model: { type: "string", default: resolve(root, "..", "shared", "models", "stories260K.gguf") },
    "engine-backend": { type: "string", default: "node-llama-cpp" },
    replicas: { type: "string", default: "2" },
    threads: { type: "string", default: "1" },
    slots: { type: "string", default: "4" },
    ctx: { type: "string", default: "512" },
    concurrency: { type: "string", default: "4" },
    duration: { type: "string", default: "600" },
    "kill-every": { type: "string", default: "30" },
    "max-tokens": { type: "string", default: "64" },
    temperature: { type: "string", default: "0" },
    prompts: { type: "string", default: "8" },
    // Per-request limit in s: a request still running then counts as failed (timeout).
    "request-timeout": { type: "string", default: "120" },
    json: { type: "string" },
    // Writes the server's whole log (JSON lines) here.
    "server-log": { type: "string" },
  },
});
const num = (name) => {
  const v = Number(values[name]);
  if (!Number.isFinite(v) || v < 0) {
    console.error(`--${name} must be a number ≥ 0, got ${values[name]}`);
    process.exit(2);
  }
  return v;
};
const backend = values["engine-backend"];
const replicas = num("replicas");
const concurrency = num("concurrency");
const durationMs = num("duration") * 1000;
const killEveryMs = num("kill-every") * 1000;
const maxTokens = num("max-tokens");
const temperature = num("temperature");
const greedy = temperature === 0;
const requestTimeoutMs = num("request-timeout") * 1000;
const modelName = "soak";

const { generateKey } = await import(join(root, "dist", "src", "auth", "index.js"));
const apiKey = generateKey().full;
const work = mkdtempSync(join(tmpdir(), "bulwark-soak-"));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();

// ---- the server ----------------------------------------------------------------------------

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const server = spawn(
  process.execPath,
  [
    join(root, "bin", "bulwark.js"),
    "serve",
    "--model",
    `${modelName}=${values.model}`,
    "--port",
    String(port),
    "--admin-port",
    "0",
    "--replicas",
    String(replicas),
    "--threads",
    values.threads,
    "--slots",
    values.slots,
    "--ctx",
    values.ctx,
    "--gpu",
    "cpu",
    "--engine-backend",
    backend,
    "--log-level",
    "warn",
  ],
  {
    stdio: ["ignore", "pipe", "pipe"],
    cwd: root,
    env: {
      ...process.env,
      ...engineBenchEnv(mkdtempSync(join(work, "home-")), apiKey),
      // The whole load comes from one address, faster than the default per-address limit
      // (1,200 a minute) on a fast backend: a refusal there would measure the limiter.
      BULWARK_RATE_LIMITS_IP_RPM: "0",
    },
  },
);
let serverLog = "";
// What the server logged about each request (by request id): a re-queue after a worker death.
const serverEvents = new Map();
let partial = "";
server.stderr.on("data", (d) => (serverLog = (serverLog + d).slice(-20_000)));
// The log (JSON lines) goes to stdout.
const logFile = values["server-log"] ? createWriteStream(values["server-log"]) : undefined;
server.stdout.on("data", (d) => {
  logFile?.write(d);
  serverLog = (serverLog + d).slice(-20_000);
  const lines = (partial + d).split("\n");
  partial = lines.pop();
  for (const line of lines) {
    try {
      const entry = JSON.parse(line);
      const id = entry.requestId ?? entry.reqId;
      if (id && entry.msg) {
        const list = serverEvents.get(id) ?? [];
        list.push(entry.err?.message ? `${entry.msg}: ${entry.err.message}` : entry.msg);
        serverEvents.set(id, list);
      }
    } catch {
      // not a JSON log line
    }
  }
});
let serverExited = false;
server.once("exit", () => (serverExited = true));

const stopServer = () => stop(server, 15_000);
let interrupted = false;
const interruption = new AbortController();
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.once(sig, () => {
    interrupted = true;
    interruption.abort();
    console.error(`${sig}: stopping`);
  });
}
function bail(message) {
  console.error(message);
  console.error(serverLog.slice(-4000));
  return stopServer().then(() => {
    rmSync(work, { recursive: true, force: true });
    process.exit(1);
  });
}

const auth = { authorization: `Bearer ${apiKey}` };
{
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (serverExited) await bail("the server exited before it was ready");
    const res = await fetch(`${base}/readyz`).catch(() => undefined);
    if (res?.status === 200) break;
    if (Date.now() > deadline || interrupted) await bail("the server did not get ready");
    await sleep(250);
  }
}

async function health() {
  const res = await fetch(`${base}/health`, { headers: auth, signal: AbortSignal.timeout(10_000) });
  if (res.status !== 200) throw new Error(`/health answered ${res.status}`);
  return res.json();
}

/** The parent PID of a process, from /proc/PID/stat; undefined when it is gone. */
function parentOf(pid) {
  try {
    return Number(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")[1]);
  } catch {
    return undefined;
  }
}

// ---- requests ------------------------------------------------------------------------------

const topics = [
  "a little dog who finds a red ball",
  "a girl who wants to fly like a bird",
  "a cat and a mouse who become friends",
  "a boy who loses his shoe in the park",
  "a tree that talks to the wind",
  "a fish who is afraid of the water",
  "a bear who bakes a cake for his mom",
  "a small boat on a big sea",
  "a rabbit who cannot find the way home",
  "two friends who build a sandcastle",
  "a sun that does not want to set",
  "a bird who sings too loud",
];
const prompts = Array.from(
  { length: Math.max(1, num("prompts")) },
  (_, i) => `Tell me a short story about ${topics[i % topics.length]} (${i + 1}).`,
);

function body(promptIndex, stream) {
  return JSON.stringify({
    model: modelName,
    messages: [{ role: "user", content: prompts[promptIndex] }],
    max_tokens: maxTokens,
    temperature,
    seed: 42,
    ...(stream ? { stream: true } : {}),
  });
}

/**
 * One chat completion. Resolves to { ok, code, message, text, status, ms } and never throws:
 * every way a request can go wrong is a failure with an error code.
 */
async function request(promptIndex, stream) {
  const started = now();
  let res;
  const done = (r) => ({
    ...r,
    stream,
    promptIndex,
    ms: now() - started,
    started,
    id: res?.headers.get("x-request-id") ?? undefined,
  });
  try {
    res = await fetch(`${base}/v1/chat/completions`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: body(promptIndex, stream),
      signal: AbortSignal.any([AbortSignal.timeout(requestTimeoutMs), interruption.signal]),
    });
  } catch (err) {
    return done({ ok: false, code: errCode(err), message: String(err?.cause ?? err) });
  }
  if (res.status !== 200) {
    const text = await res.text().catch(() => "");
    let code = `http_${res.status}`;
    let message = text.slice(0, 300);
    try {
      const e = JSON.parse(text).error;
      code = e?.code ?? e?.type ?? code;
      message = e?.message ?? message;
    } catch {
      // not JSON: keep the HTTP status as the code
    }
    return done({ ok: false, code, status: res.status, message });
  }
  if (!stream) {
    try {
      const json = await res.json();
      const content = json.choices?.[0]?.message?.content;
      if (typeof content !== "string")
        return done({ ok: false, code: "no_choices", message: JSON.stringify(json).slice(0, 300) });
      return done({ ok: true, text: content, finish: json.choices[0].finish_reason });
    } catch (err) {
      return done({ ok: false, code: errCode(err), message: String(err?.cause ?? err) });
    }
  }
  // Streamed: parse the SSE events until [DONE].
  let text = "";
  let finish = null;
  let sawDone = false;
  let error;
  let chunks = 0;
  let buffer = "";
  const decoder = new TextDecoder();
  try {
    for await (const piece of res.body) {
      buffer += decoder.decode(piece, { stream: true });
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl).replace(/\r$/, "");
        buffer = buffer.slice(nl + 1);
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") {
          sawDone = true;
          continue;
        }
        const event = JSON.parse(data);
        if (event.error) {
          error ??= event.error;
          continue;
        }
        chunks += 1;
        const choice = event.choices?.[0];
        if (choice?.delta?.content) text += choice.delta.content;
        if (choice?.finish_reason) finish = choice.finish_reason;
      }
    }
  } catch (err) {
    return done({
      ok: false,
      code: errCode(err),
      message: String(err?.cause ?? err),
      text,
      chunks,
    });
  }
  if (error)
    return done({
      ok: false,
      code: error.code ?? error.type ?? "stream_error",
      message: error.message,
      text,
      chunks,
    });
  if (!sawDone) return done({ ok: false, code: "stream_without_done", text, chunks });
  return done({ ok: true, text, finish, chunks });
}

function errCode(err) {
  if (err?.name === "TimeoutError") return "timeout";
  const cause = err?.cause;
  return `network:${cause?.code ?? cause?.name ?? err?.name ?? "error"}`;
}

// ---- reference answers (before any kill) ---------------------------------------------------

// No worker is killed yet, so a failure here is a failure without a kill: it is reported, and
// the reference request is tried again (three times at most).
const reference = [];
const referenceFailures = [];
if (greedy) {
  for (let i = 0; i < prompts.length; i++) {
    for (let attempt = 1; ; attempt++) {
      const r = await request(i, false);
      if (r.ok) {
        reference.push(r.text);
        break;
      }
      referenceFailures.push(r);
      console.error(`reference request ${i} failed: ${r.code} ${r.message ?? ""}`);
      if (attempt === 3) await bail("the reference answers could not be taken");
    }
  }
}

// ---- the soak ------------------------------------------------------------------------------

const startedAt = new Date().toISOString();
const loadSamples = [];
const t0 = now();
const stopAt = t0 + durationMs;
const results = [];
const kills = []; // { at, pid, replica, skipped? }
const restarts = []; // { at, replica, oldPid, newPid, sinceKillMs }
let counter = 0;
let initialRestarts;
let lastHealthError;

/** Pid and state of every replica of every model, as /health gives them. */
function replicaList(h) {
  return h.models.flatMap((m) => m.replicas.map((r) => ({ ...r, model: m.name })));
}

// The watcher: follows each replica's pid, so that a restart shows as a new pid.
const known = new Map(); // replica position → pid
async function watch() {
  while (now() < stopAt && !interrupted && !serverExited) {
    try {
      const h = await health();
      const list = replicaList(h);
      initialRestarts ??= list.reduce((n, r) => n + r.restarts, 0);
      for (const r of list) {
        // A replica's id names its position and its generation (model#0.2): follow the position.
        const position = r.id.replace(/\.\d+$/, "");
        const old = known.get(position);
        if (r.pid != null && r.state === "ready" && old !== r.pid) {
          if (old !== undefined) {
            const kill = kills.findLast((k) => k.pid === old);
            restarts.push({
              at: now() - t0,
              replica: r.id,
              oldPid: old,
              newPid: r.pid,
              sinceKillMs: kill ? Math.round(now() - t0 - kill.at) : null,
            });
          }
          known.set(position, r.pid);
        }
      }
    } catch (err) {
      lastHealthError = String(err);
    }
    loadSamples.push(loadavg()[0]);
    await sleep(500);
  }
}

async function killer() {
  let next = t0 + killEveryMs;
  while (killEveryMs > 0) {
    while (now() < next) {
      if (now() >= stopAt || interrupted || serverExited) return;
      await sleep(Math.min(250, next - now()));
    }
    next += killEveryMs;
    if (now() >= stopAt) return;
    let list;
    try {
      list = replicaList(await health());
    } catch (err) {
      kills.push({ at: now() - t0, skipped: `health: ${err}` });
      continue;
    }
    const candidates = list.filter(
      (r) => r.pid != null && r.state === "ready" && parentOf(r.pid) === server.pid,
    );
    if (candidates.length === 0) {
      kills.push({ at: now() - t0, skipped: "no ready worker of this server" });
      continue;
    }
    const victim = candidates[Math.floor(Math.random() * candidates.length)];
    try {
      process.kill(victim.pid, "SIGKILL");
      kills.push({ at: now() - t0, pid: victim.pid, replica: victim.id, busy: victim.busySlots });
      console.error(
        `${((now() - t0) / 1000).toFixed(1)} s: SIGKILL ${victim.id} pid ${victim.pid} (${victim.busySlots} busy slots)`,
      );
    } catch (err) {
      kills.push({ at: now() - t0, skipped: `kill ${victim.pid}: ${err.code ?? err}` });
    }
  }
}

async function client() {
  while (now() < stopAt && !interrupted && !serverExited) {
    const n = counter++;
    const r = await request(n % prompts.length, n % 2 === 1);
    r.started -= t0;
    results.push(r);
    if (!r.ok)
      console.error(
        `${((now() - t0) / 1000).toFixed(1)} s: ${r.stream ? "streamed" : "plain"} request failed after ${r.ms.toFixed(0)} ms: ${r.code} ${r.message ?? ""}`,
      );
  }
}

const progress = setInterval(() => {
  const ok = results.filter((r) => r.ok).length;
  console.error(
    `${((now() - t0) / 1000).toFixed(0)} s: ${ok} ok, ${results.length - ok} failed, ${kills.filter((k) => k.pid).length} kills, ${restarts.length} restarts, load ${loadavg()[0].toFixed(1)}`,
  );
}, 30_000);
await Promise.all([watch(), killer(), ...Array.from({ length: concurrency }, client)]);
clearInterval(progress);
const elapsedS = (now() - t0) / 1000;
const serverDied = serverExited
  ? `the server exited during the run: ${serverLog.slice(-2000)}`
  : undefined;
let finalHealth;
try {
  finalHealth = await health();
} catch (err) {
  lastHealthError = String(err);
}
await stopServer();
rmSync(work, { recursive: true, force: true });

// ---- the summary ---------------------------------------------------------------------------

const killed = kills.filter((k) => k.pid);
const finalRestarts = finalHealth
  ? replicaList(finalHealth).reduce((n, r) => n + r.restarts, 0) - (initialRestarts ?? 0)
  : null;
/** Whether a worker was killed while this request ran. */
const overlapsKill = (r) => killed.some((k) => k.at >= r.started && k.at <= r.started + r.ms);
const groups = {
  plain: results.filter((r) => !r.stream),
  streamed: results.filter((r) => r.stream),
};
const failures = results.filter((r) => !r.ok);
const byCode = {};
for (const r of failures) {
  const key = `${r.stream ? "streamed" : "plain"}: ${r.code}`;
  byCode[key] = (byCode[key] ?? 0) + 1;
}
/** Whether the server re-ran this request after its worker died (its log says so). */
const rerun = (r) => (serverEvents.get(r.id) ?? []).some((m) => /re-queue|resum/i.test(m));
const mismatch = { rerun: 0, duringKill: 0, otherwise: 0, checked: 0 };
const mismatchSamples = [];
if (greedy) {
  for (const r of results) {
    if (!r.ok) continue;
    mismatch.checked += 1;
    if (r.text === reference[r.promptIndex]) continue;
    if (rerun(r)) mismatch.rerun += 1;
    else if (overlapsKill(r)) mismatch.duringKill += 1;
    else mismatch.otherwise += 1;
    if (mismatchSamples.length < 5)
      mismatchSamples.push({
        prompt: r.promptIndex,
        stream: r.stream,
        duringKill: overlapsKill(r),
        server: serverEvents.get(r.id) ?? [],
        expected: reference[r.promptIndex],
        got: r.text,
      });
  }
}
const pct = (v, p) => {
  if (v.length === 0) return 0;
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const loadMean = loadSamples.length
  ? loadSamples.reduce((a, b) => a + b, 0) / loadSamples.length
  : loadavg()[0];
const recovery = restarts.map((r) => r.sinceKillMs).filter((v) => v != null);

const out = [];
const say = (s = "") => {
  out.push(s);
  console.log(s);
};
say(
  `Soak ${startedAt}, ${elapsedS.toFixed(0)} s on ${cpus().length} × ${cpus()[0]?.model ?? "CPU"}; ` +
    `1-minute load average ${Math.min(...loadSamples).toFixed(1)}–${Math.max(...loadSamples).toFixed(1)}, mean ${loadMean.toFixed(1)}.`,
);
say(
  `Server: \`bulwark serve --model ${values.model.split("/").at(-1)} --engine-backend ${backend} --replicas ${replicas} --threads ${values.threads} --slots ${values.slots} --ctx ${values.ctx}\`; ` +
    `load: concurrency ${concurrency}, chat completions alternately streamed and plain, ${prompts.length} prompts, max_tokens ${maxTokens}, temperature ${temperature}; ` +
    `SIGKILL of a random worker every ${killEveryMs / 1000} s.`,
);
say();
say(
  "| requests | total | ok | failed | overlapping a kill | re-run after a worker death | p50 ms | p95 ms |",
);
say("|---|---|---|---|---|---|---|---|");
for (const [name, rs] of Object.entries(groups)) {
  const ok = rs.filter((r) => r.ok);
  const ms = ok.map((r) => r.ms);
  say(
    `| ${name} | ${rs.length} | ${ok.length} | ${rs.length - ok.length} | ${rs.filter(overlapsKill).length} | ${rs.filter(rerun).length} | ${pct(ms, 50).toFixed(0)} | ${pct(ms, 95).toFixed(0)} |`,
  );
}
say();
say(
  `Kills: ${killed.length} done, ${kills.length - killed.length} skipped; restarts seen: ${restarts.length} ` +
    `(replica restart counters: +${finalRestarts ?? "?"})` +
    (recovery.length
      ? `, ready again after a kill in ${pct(recovery, 50)} ms (median), ${Math.max(...recovery)} ms (max)`
      : "") +
    ".",
);
say(
  failures.length === 0
    ? "Failed requests: none."
    : `Failed requests by error code: ${Object.entries(byCode)
        .map(([k, v]) => `${k} × ${v}`)
        .join("; ")}.`,
);
if (greedy)
  say(
    `Greedy answers compared with the uninterrupted reference: ${mismatch.checked} checked, ` +
      `${mismatch.rerun} differ among those re-run after a worker death, ${mismatch.duringKill} among the others ` +
      `that overlapped a kill, ${mismatch.otherwise} among the rest.`,
  );
if (referenceFailures.length > 0)
  say(
    `Before the first kill, ${referenceFailures.length} reference request(s) failed: ${referenceFailures
      .map((r) => `${r.code} (${(serverEvents.get(r.id) ?? [r.message]).join("; ")})`)
      .join("; ")}.`,
  );
if (serverDied) say(serverDied);
if (lastHealthError) say(`Last /health error: ${lastHealthError}`);

if (values.json) {
  writeFileSync(
    values.json,
    JSON.stringify(
      {
        startedAt,
        elapsedS,
        options: values,
        loadAverage: { samples: loadSamples, mean: loadMean },
        requests: results.map(({ text: _text, ...r }) => ({
          ...r,
          chars: _text?.length ?? 0,
          server: serverEvents.get(r.id),
        })),
        failuresByCode: byCode,
        kills,
        restarts,
        replicaRestartCounter: finalRestarts,
        mismatches: { ...mismatch, samples: mismatchSamples },
        reference,
        referenceFailures: referenceFailures.map(({ text: _text, ...r }) => ({
          ...r,
          server: serverEvents.get(r.id),
        })),
        summary: out.join("\n"),
      },
      null,
      2,
    ) + "\n",
  );
}
process.exitCode =
  !serverDied &&
  failures.length + referenceFailures.length === 0 &&
  mismatch.rerun + mismatch.duringKill === 0
    ? 0
    : 1;
