#!/usr/bin/env node
// The gateway's own cost: Bulwark's gateway on the fake engine (which answers at once) against
// a bare node:http server that answers the same JSON, both in their own process, loaded at a
// fixed request rate (evenly spaced, open loop) by this process.
//   added latency = gateway latency − bare latency, at p50 and p99;
//   the highest rate it holds = the highest step of --ramp at which it completes ≥ 95% of the
//   offered rate with no errors and p99 under --p99-limit ms.
//
//   node bench/overhead.mjs [--rate 2000] [--seconds 5] [--ramp 1000,2000,3000,4000,6000]
//                           [--repeat 3] [--stream] [--profile DIR]
// Run `npm run build` first. Prints markdown tables and writes nothing else.
import http from "node:http";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { loadavg } from "node:os";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    rate: { type: "string", default: "2000" },
    seconds: { type: "string", default: "5" },
    ramp: { type: "string", default: "1000,2000,3000,4000,6000,8000" },
    repeat: { type: "string", default: "3" },
    "p99-limit": { type: "string", default: "50" },
    stream: { type: "boolean", default: false },
    // Writes a V8 CPU profile of the gateway process here (summarize: bench/profile-summary.mjs).
    profile: { type: "string" },
  },
});
const { percentileSorted } = await import("../dist/src/bench/index.js");
const seconds = Number(values.seconds);
const p99Limit = Number(values["p99-limit"]);

function startServer(kind) {
  const prof =
    values.profile && kind === "gateway" ? ["--cpu-prof", "--cpu-prof-dir", values.profile] : [];
  const child = spawn(
    process.execPath,
    [...prof, join(here, "overhead-server.mjs"), "--kind", kind],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once("line", (url) => resolve({ child, url }));
    child.once("exit", (code) => reject(new Error(`${kind} server exited ${code}`)));
  });
}

const body = JSON.stringify({
  model: "fake",
  prompt: "hi",
  max_tokens: 1,
  ...(values.stream ? { stream: true } : {}),
});

/**
 * CPU time (user + system, ms) a process has used, from /proc/PID/stat: unlike latency, it
 * hardly moves when other work shares the machine, so it gives the cost per request and the
 * rate one core could hold (1000 / CPU ms per request) even on a busy machine.
 */
function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
}

/** Sends `rate` requests/s for `seconds`; returns latencies (ms), errors and the achieved rate. */
async function load(server, rate) {
  const url = server.url;
  const cpuBefore = cpuMs(server.child.pid);
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const target = new URL("/v1/completions", url);
  const total = Math.round(rate * seconds);
  const latencies = [];
  let errors = 0;
  const kinds = {};
  let lateMs = 0;
  const one = () =>
    new Promise((resolve) => {
      const t0 = performance.now();
      const req = http.request(
        target,
        {
          method: "POST",
          agent,
          headers: { "content-type": "application/json", "content-length": body.length },
        },
        (res) => {
          res.on("data", () => undefined);
          res.on("end", () => {
            if (res.statusCode === 200) latencies.push(performance.now() - t0);
            else {
              errors++;
              kinds[res.statusCode] = (kinds[res.statusCode] ?? 0) + 1;
            }
            resolve();
          });
        },
      );
      req.on("error", (err) => {
        errors++;
        kinds[err.code] = (kinds[err.code] ?? 0) + 1;
        resolve();
      });
      req.end(body);
    });
  const pending = [];
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait >= 1) await new Promise((r) => setTimeout(r, wait));
    else if (wait < 0) lateMs = Math.max(lateMs, -wait);
    pending.push(one());
  }
  await Promise.all(pending);
  const elapsed = (performance.now() - start) / 1000;
  agent.destroy();
  const cpuPerRequest = (cpuMs(server.child.pid) - cpuBefore) / total;
  latencies.sort((a, b) => a - b);
  return {
    p50: percentileSorted(latencies, 50),
    p99: percentileSorted(latencies, 99),
    achieved: latencies.length / elapsed,
    errors,
    kinds,
    lateMs,
    cpuPerRequest,
  };
}

const fmt = (v) => v.toFixed(3);
const servers = { bare: await startServer("bare"), gateway: await startServer("gateway") };
try {
  // Warm both up (JIT, sockets) before measuring.
  for (const s of Object.values(servers)) await load(s, 500);
  const rate = Number(values.rate);
  console.log(
    `\nload average before: ${loadavg()
      .map((v) => v.toFixed(2))
      .join(" ")}`,
  );
  console.log(
    `\n### Added latency at ${rate} req/s, ${seconds} s a run, ${values.stream ? "streaming" : "non-streaming"}\n`,
  );
  console.log(
    "| run | bare p50 ms | bare p99 ms | gateway p50 ms | gateway p99 ms | added p50 ms | added p99 ms | gateway p50 / bare | bare CPU ms/req | gateway CPU ms/req | gateway achieved req/s | errors | load avg |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (let r = 1; r <= Number(values.repeat); r++) {
    const bare = await load(servers.bare, rate);
    const gw = await load(servers.gateway, rate);
    console.log(
      `| ${r} | ${fmt(bare.p50)} | ${fmt(bare.p99)} | ${fmt(gw.p50)} | ${fmt(gw.p99)} | ${fmt(gw.p50 - bare.p50)} | ${fmt(gw.p99 - bare.p99)} | ${(gw.p50 / bare.p50).toFixed(2)} | ${bare.cpuPerRequest.toFixed(4)} | ${gw.cpuPerRequest.toFixed(4)} | ${gw.achieved.toFixed(0)} | ${gw.errors}${gw.errors ? ` ${JSON.stringify(gw.kinds)}` : ""} | ${loadavg()[0].toFixed(2)} |`,
    );
  }
  console.log(`\n### Highest rate held (≥ 95% of offered, no errors, p99 < ${p99Limit} ms)\n`);
  console.log(
    "| server | offered req/s | achieved req/s | p50 ms | p99 ms | errors | client late ms | server CPU ms/req | CPU-bound ceiling req/s | held |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|---|");
  for (const [name, s] of Object.entries(servers)) {
    let best = 0;
    for (const step of values.ramp.split(",").map(Number)) {
      const res = await load(s, step);
      const held = res.errors === 0 && res.achieved >= 0.95 * step && res.p99 < p99Limit;
      console.log(
        `| ${name} | ${step} | ${res.achieved.toFixed(0)} | ${fmt(res.p50)} | ${fmt(res.p99)} | ${res.errors}${res.errors ? ` ${JSON.stringify(res.kinds)}` : ""} | ${res.lateMs.toFixed(1)} | ${res.cpuPerRequest.toFixed(4)} | ${(1000 / res.cpuPerRequest).toFixed(0)} | ${held ? "yes" : "no"} |`,
      );
      if (!held) break;
      best = step;
    }
    console.log(`| **${name}** | **highest held: ${best}** | | | | | | | | |`);
  }
  console.log(
    `\nload average after: ${loadavg()
      .map((v) => v.toFixed(2))
      .join(" ")}`,
  );
} finally {
  const exits = Object.values(servers).map((s) => new Promise((r) => s.child.once("exit", r)));
  for (const s of Object.values(servers)) s.child.kill("SIGTERM");
  await Promise.all(exits); // the CPU profile is written as the gateway exits
}
