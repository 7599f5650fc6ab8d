#!/usr/bin/env node
// Many gateways, one set of limits: the goals of shared state on Redis, measured.
//
//   node bench/cluster.mjs [--only exactness,latency,throughput,soak] [--window-s 60]
//        [--rate 2000] [--latency-s 10] [--repeats 2] [--token-delay-ms 20] [--max-tokens 16] [--slots 4]
//        [--throughput-s 20] [--soak-s 180] [--kill-every-s 20] [--concurrency 8] [--json FILE]
//
//  exactness:  Redis + 3 gateway processes (fake engine, API keys on); one key with rpm R is hit
//              from all three at once for --window-s; admitted is compared with what GCRA allows
//              (R at once, then R per minute). Same for tokens per minute.
//  latency:    the limit check alone (RateLimiter.admitRequest) at --rate checks a second, on
//              the Redis store and on the memory store, in this process: the added latency.
//              Redis is measured --repeats times with ioredis's auto-pipelining off and on,
//              alternately, so both see the same machine.
//  throughput: nginx (deploy/nginx/bulwark.conf) in front of 1, then 3 gateways on the fake
//              engine with a fixed per-token delay, closed loop at 2 × the fleet's slots.
//  soak:       nginx + 3 gateways, concurrency --concurrency, one gateway SIGKILLed every
//              --kill-every-s for --soak-s (and started again): the share of requests that succeed,
//              and where each failure was (nginx's log names the gateway).
//
// Everything runs on 127.0.0.1 free ports with its own directories, started and stopped by PID.
// Needs /usr/bin/redis-server and /usr/sbin/nginx, and `npm run build` first. Prints markdown.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

const dist = new URL("../dist/", import.meta.url).pathname;
const { startRedis, freePort } = await import(`${dist}test/helpers/redis.js`);
const { startNginx, spawnGateway } = await import(`${dist}test/helpers/nginx.js`);
const { generateKey } = await import(`${dist}src/auth/index.js`);
const { RateLimiter, MemoryLimitStore } = await import(`${dist}src/limits/index.js`);
const { RedisConnection, RedisLimitStore } = await import(`${dist}src/store/redis/index.js`);

const { values: o } = parseArgs({
  options: {
    only: { type: "string", default: "exactness,latency,throughput,soak" },
    "window-s": { type: "string", default: "60" },
    rate: { type: "string", default: "2000" },
    "latency-s": { type: "string", default: "10" },
    repeats: { type: "string", default: "2" },
    "token-delay-ms": { type: "string", default: "20" },
    "max-tokens": { type: "string", default: "16" },
    slots: { type: "string", default: "4" },
    "throughput-s": { type: "string", default: "20" },
    "soak-s": { type: "string", default: "180" },
    "kill-every-s": { type: "string", default: "20" },
    concurrency: { type: "string", default: "8" },
    json: { type: "string" },
  },
});
const only = new Set(o.only.split(","));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const results = {
  machine: { cpus: cpus().length, loadBefore: loadavg().map((x) => x.toFixed(2)) },
};
const cleanups = [];
process.on("SIGINT", async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  process.exit(130);
});

async function fleet(n, redisUrl, extra = {}, gatewayOptions = {}) {
  const adminKey = generateKey().full;
  const gws = [];
  const homes = [];
  const ports = [];
  for (let i = 0; i < n; i++) {
    ports.push(await freePort());
    homes.push(mkdtempSync(join(tmpdir(), `bulwark-bench-gw${i + 1}-`)));
  }
  const configOf = (i) => ({
    home: homes[i],
    server: { port: ports[i], adminPort: 0 },
    security: { trustedProxies: ["127.0.0.1/32"] },
    rateLimits: { ipRpm: 0 },
    ...(redisUrl ? { state: { backend: "redis", redisUrl, commandTimeoutMs: 1000 } } : {}),
    instance: { id: `gw${i + 1}` },
    models: [{ name: "fake", path: "/models/fake.gguf", slots: Number(o.slots) }],
    ...extra,
  });
  for (let i = 0; i < n; i++)
    gws.push(await spawnGateway(configOf(i), { adminKey, ...gatewayOptions }));
  const f = {
    gws,
    ports,
    adminKey,
    respawn: async (i) =>
      (gws[i] = await spawnGateway(configOf(i), { adminKey, ...gatewayOptions })),
    close: async () => {
      await Promise.all(gws.map((g) => g.stop()));
      for (const h of homes) rmSync(h, { recursive: true, force: true });
    },
  };
  cleanups.push(f.close);
  return f;
}

async function post(url, body, key) {
  const headers = { "content-type": "application/json" };
  if (key) headers.authorization = `Bearer ${key}`;
  try {
    const r = await fetch(url, { method: "POST", headers, body: JSON.stringify(body) });
    await r.text();
    return r.status;
  } catch {
    return 0;
  }
}

async function makeKey(f, body) {
  const r = await fetch(`${f.gws[0].adminUrl}/admin/keys`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${f.adminKey}` },
    body: JSON.stringify(body),
  });
  const json = await r.json();
  await sleep(500); // replicated to the others
  return json.key;
}

/** Hits `key` from every gateway for `seconds`, 3 clients per gateway; counts 200s. */
async function hammer(f, key, body, path, seconds) {
  const until = Date.now() + seconds * 1000;
  let admitted = 0;
  let refused = 0;
  let other = 0;
  const first = Date.now();
  await Promise.all(
    f.gws.flatMap((g) =>
      Array.from({ length: 3 }, async () => {
        while (Date.now() < until) {
          const s = await post(`${g.url}${path}`, body, key);
          if (s === 200) admitted++;
          else if (s === 429) refused++;
          else other++;
        }
      }),
    ),
  );
  return { admitted, refused, other, elapsedS: (Date.now() - first) / 1000 };
}

if (only.has("exactness")) {
  const redis = await startRedis();
  cleanups.push(() => redis.close());
  const f = await fleet(3, redis.url);
  const w = Number(o["window-s"]);
  const rpm = 600;
  const rKey = await makeKey(f, { name: "rpm", role: "user", rpm });
  const r = await hammer(
    f,
    rKey,
    { model: "fake", prompt: [40, 41, 42], max_tokens: 1 },
    "/v1/completions",
    w,
  );
  // GCRA: a burst of rpm, then rpm per minute.
  const rAllowed = rpm + Math.floor((r.elapsedS * rpm) / 60);
  const tpm = 60_000;
  const tKey = await makeKey(f, { name: "tpm", role: "user", tpm });
  // 100 tokens a request: 3 prompt + max_tokens 97, all generated (ignore_eos), none refunded.
  const tBody = { model: "fake", prompt: [40, 41, 42], max_tokens: 97, ignore_eos: true };
  const t = await hammer(f, tKey, tBody, "/v1/completions", w);
  const tAllowed = Math.floor((tpm + (t.elapsedS * tpm) / 60) / 100);
  results.exactness = {
    windowS: w,
    rpm: {
      limit: rpm,
      ...r,
      allowed: rAllowed,
      errorPct: (100 * (r.admitted - rAllowed)) / rAllowed,
    },
    tpm: {
      limit: tpm,
      ...t,
      allowed: tAllowed,
      errorPct: (100 * (t.admitted - tAllowed)) / tAllowed,
    },
  };
  await f.close();
  await redis.close();
}

function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

if (only.has("latency")) {
  const redis = await startRedis();
  cleanups.push(() => redis.close());
  const connect = async (autoPipelining) => {
    const conn = new RedisConnection({
      url: redis.url,
      keyPrefix: "bench:",
      commandTimeoutMs: 1000,
      connectTimeoutMs: 1000,
      breakerFailures: 3,
      breakerCooldownMs: 1000,
      autoPipelining,
    });
    await conn.waitConnected(2000);
    return conn;
  };
  const rate = Number(o.rate);
  const seconds = Number(o["latency-s"]);
  const measure = async (store) => {
    const limiter = new RateLimiter(store, { ipRpm: 0 });
    const key = { id: "k", rpm: 1e9, tpm: 0, concurrency: 1e6, dailyBudget: 0 };
    const lat = [];
    const cpu0 = process.cpuUsage();
    const redisCpu0 = procCpuMs(redis.pid());
    const start = performance.now();
    const total = rate * seconds;
    const pending = [];
    for (let i = 0; i < total; i++) {
      const due = start + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      pending.push(
        (async () => {
          const t0 = performance.now();
          const a = await limiter.admitRequest(key);
          lat.push(performance.now() - t0);
          a.release();
        })(),
      );
    }
    await Promise.all(pending);
    const achieved = total / ((performance.now() - start) / 1000);
    const cpu = process.cpuUsage(cpu0);
    lat.sort((a, b) => a - b);
    return {
      achievedPerS: Math.round(achieved),
      p50: pct(lat, 50),
      p99: pct(lat, 99),
      // CPU a check costs, in µs: this process (the client), and redis-server (its work and
      // its wake-ups): what the machine pays, less noisy than latency on a loaded machine.
      clientCpuUs: ((cpu.user + cpu.system) / total).toFixed(1),
      redisCpuUs: (((procCpuMs(redis.pid()) - redisCpu0) * 1000) / total).toFixed(1),
    };
  };
  const memory = await measure(new MemoryLimitStore());
  const runs = [];
  for (let r = 0; r < Number(o.repeats); r++) {
    for (const autoPipelining of [false, true]) {
      const conn = await connect(autoPipelining);
      const shared = await measure(new RedisLimitStore(conn));
      await conn.close();
      runs.push({
        autoPipelining,
        load: loadavg()[0].toFixed(2),
        ...shared,
        addedP50Ms: shared.p50 - memory.p50,
        addedP99Ms: shared.p99 - memory.p99,
      });
    }
  }
  results.latency = { rate, seconds, memory, runs };
  await redis.close();
}

/** A process's user + system CPU so far, in ms, from /proc (0 when it cannot be read). */
function procCpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

/** Closed loop of `concurrency` clients through `url` for `seconds`; requests per second. */
async function closedLoop(url, concurrency, seconds, body) {
  const until = Date.now() + seconds * 1000;
  let ok = 0;
  let failed = 0;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < until) {
        if ((await post(`${url}/v1/completions`, body)) === 200) ok++;
        else failed++;
      }
    }),
  );
  return { ok, failed, perS: ok / ((Date.now() - t0) / 1000) };
}

const genBody = {
  model: "fake",
  prompt: "hello",
  max_tokens: Number(o["max-tokens"]),
  ignore_eos: true,
};
const noAuth = { security: { auth: false, trustedProxies: ["127.0.0.1/32"] } };

if (only.has("throughput")) {
  const redis = await startRedis();
  cleanups.push(() => redis.close());
  const delay = Number(o["token-delay-ms"]);
  const s = Number(o["throughput-s"]);
  const run = async (n) => {
    const f = await fleet(n, redis.url, noAuth, { tokenDelayMs: delay });
    const ng = await startNginx(await freePort(), f.ports);
    const r = await closedLoop(ng.url, 2 * n * Number(o.slots), s, genBody);
    await ng.close();
    await f.close();
    return r;
  };
  const one = await run(1);
  const three = await run(3);
  results.throughput = {
    tokenDelayMs: delay,
    maxTokens: genBody.max_tokens,
    slots: Number(o.slots),
    one,
    three,
    ratio: three.perS / one.perS,
  };
  await redis.close();
}

if (only.has("soak")) {
  const redis = await startRedis();
  cleanups.push(() => redis.close());
  const f = await fleet(3, redis.url, noAuth, { tokenDelayMs: Number(o["token-delay-ms"]) });
  const ng = await startNginx(await freePort(), f.ports);
  const body = { model: "fake", prompt: "hello", max_tokens: 4 };
  const until = Date.now() + Number(o["soak-s"]) * 1000;
  let ok = 0;
  let failed = 0;
  const kills = [];
  const load = Promise.all(
    Array.from({ length: Number(o.concurrency) }, async () => {
      while (Date.now() < until) {
        if ((await post(`${ng.url}/v1/completions`, body)) === 200) ok++;
        else failed++;
      }
    }),
  );
  let victim = 0;
  while (Date.now() + Number(o["kill-every-s"]) * 1000 <= until) {
    await sleep(Number(o["kill-every-s"]) * 1000);
    const i = victim++ % 3;
    kills.push({ at: Date.now(), gateway: `127.0.0.1:${f.ports[i]}` });
    await f.gws[i].kill();
    await f.respawn(i);
  }
  await load;
  const log = ng.log();
  const bad = log.filter((l) => l.status !== 200);
  const onKilled = bad.filter((l) => kills.some((k) => l.upstreams.at(-1) === k.gateway)).length;
  results.soak = {
    seconds: Number(o["soak-s"]),
    kills: kills.length,
    concurrency: Number(o.concurrency),
    ok,
    failed,
    successPct: (100 * ok) / (ok + failed),
    failuresOnAKilledGateway: onKilled,
  };
  await ng.close();
  await f.close();
  await redis.close();
}

results.machine.loadAfter = loadavg().map((x) => x.toFixed(2));
const fmt = (x, d = 2) => (typeof x === "number" ? x.toFixed(d) : String(x));
const lines = [
  `Machine: ${results.machine.cpus} CPUs, load ${results.machine.loadBefore.join(" ")} before, ${results.machine.loadAfter.join(" ")} after.`,
  "",
];
if (results.exactness) {
  const e = results.exactness;
  lines.push(
    `| limit (3 gateways, ${e.windowS} s) | allowed by the algorithm | admitted | error |`,
    "| --- | --- | --- | --- |",
  );
  lines.push(
    `| rpm ${e.rpm.limit} | ${e.rpm.allowed} | ${e.rpm.admitted} (${e.rpm.refused} refused, ${e.rpm.other} other) | ${fmt(e.rpm.errorPct)} % |`,
  );
  lines.push(
    `| tpm ${e.tpm.limit} (100 tokens a request) | ${e.tpm.allowed} | ${e.tpm.admitted} (${e.tpm.refused} refused, ${e.tpm.other} other) | ${fmt(e.tpm.errorPct)} % |`,
    "",
  );
}
if (results.latency) {
  const l = results.latency;
  lines.push(
    `| limit check at ${l.rate}/s for ${l.seconds} s | achieved/s | p50 ms | p99 ms | added p50 ms | added p99 ms | client CPU µs/check | redis-server CPU µs/check | load (1 min) |`,
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  );
  lines.push(
    `| memory | ${l.memory.achievedPerS} | ${fmt(l.memory.p50, 3)} | ${fmt(l.memory.p99, 3)} | | | ${l.memory.clientCpuUs} | | |`,
  );
  for (const r of l.runs) {
    lines.push(
      `| Redis, auto-pipelining ${r.autoPipelining ? "on" : "off"} | ${r.achievedPerS} | ${fmt(r.p50, 3)} | ${fmt(r.p99, 3)} | ${fmt(r.addedP50Ms, 3)} | ${fmt(r.addedP99Ms, 3)} | ${r.clientCpuUs} | ${r.redisCpuUs} | ${r.load} |`,
    );
  }
  lines.push("");
}
if (results.throughput) {
  const t = results.throughput;
  lines.push(
    `Throughput behind nginx (fake engine, ${t.tokenDelayMs} ms a token, ${t.maxTokens} tokens, ${t.slots} slots a gateway): 1 gateway ${fmt(t.one.perS, 1)} req/s, 3 gateways ${fmt(t.three.perS, 1)} req/s: ${fmt(t.ratio)}×.`,
    "",
  );
}
if (results.soak) {
  const s = results.soak;
  lines.push(
    `Soak: ${s.seconds} s, concurrency ${s.concurrency}, ${s.kills} gateways SIGKILLed: ${s.ok} of ${s.ok + s.failed} succeeded (${fmt(s.successPct, 3)} %); ${s.failed} failed, ${s.failuresOnAKilledGateway} of them on a killed gateway by nginx's log.`,
    "",
  );
}
console.log(lines.join("\n"));
if (o.json) writeFileSync(o.json, JSON.stringify(results, null, 2));
