// Runs the memory guard's reader against a live cgroup v2 with a memory limit: a child process
// placed in a fresh cgroup fills memory in steps while SystemMemorySource and MemoryGuard read
// the real memory.max, memory.current and memory.stat. Two rounds: the limit on the child's own
// cgroup, then on its parent (the reader must walk up). The child frees its memory when the guard
// reaches reclaim, as a stopped worker would; the check fails on an OOM kill or a wrong reading.
// Needs root and a cgroup v2 mount at /sys/fs/cgroup.
// Usage: npm run build && sudo node scripts/check-cgroup-v2.mjs [--limit-mib 256]
import { fork } from "node:child_process";
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { SystemMemorySource } from "../dist/src/guards/proc-sources.js";
import { MemoryGuard } from "../dist/src/guards/memory-guard.js";

const ROOT = "/sys/fs/cgroup";
const MiB = 1024 * 1024;

if (process.argv[2] === "--child") await child();
else await parent();

async function parent() {
  const at = process.argv.indexOf("--limit-mib");
  const limitMiB = at > 0 ? Number(process.argv[at + 1]) : 256;
  const mounts = readFileSync("/proc/self/mounts", "utf8");
  if (!/^\S+ \/sys\/fs\/cgroup cgroup2 /m.test(mounts)) {
    console.error("no cgroup v2 mount at /sys/fs/cgroup; this check needs one");
    process.exit(2);
  }
  // Controllers for the new cgroups: the root's subtree gets the memory controller.
  writeFileSync(`${ROOT}/cgroup.subtree_control`, "+memory");
  const results = [];
  for (const where of ["own", "parent"]) {
    const parentDir = `${ROOT}/bulwark-check-${process.pid}-${where}`;
    const leaf = `${parentDir}/worker`;
    mkdirSync(parentDir);
    writeFileSync(`${parentDir}/cgroup.subtree_control`, "+memory");
    mkdirSync(leaf);
    const limited = where === "own" ? leaf : parentDir;
    writeFileSync(`${limited}/memory.max`, String(limitMiB * MiB));
    writeFileSync(`${limited}/memory.swap.max`, "0");
    const kid = fork(new URL(import.meta.url).pathname, ["--child"], {
      stdio: "inherit",
      execArgv: ["--expose-gc"],
    });
    writeFileSync(`${leaf}/cgroup.procs`, String(kid.pid));
    const report = await new Promise((resolve, reject) => {
      kid.on("message", resolve);
      kid.on("exit", (code, signal) => reject(new Error(`child ended: ${code} ${signal}`)));
      kid.send({ leaf, limited });
    }).catch((err) => ({ error: err.message }));
    kid.kill();
    await new Promise((r) => setTimeout(r, 300));
    const events = readFileSync(`${limited}/memory.events`, "utf8");
    const oomKills = Number(/^oom_kill (\d+)$/m.exec(events)?.[1] ?? NaN);
    rmdirSync(leaf);
    rmdirSync(parentDir);
    results.push({ limit: where, limitMiB, oomKills, ...report });
  }
  console.log(JSON.stringify(results, null, 2));
  const ok = results.every(
    (r) =>
      !r.error &&
      r.oomKills === 0 &&
      r.first.source === "cgroup" &&
      r.first.limitBytes === limitMiB * MiB &&
      r.levels.join(" ") === "warn shed reclaim ok" &&
      r.maxErrorMiB < 1,
  );
  console.log(ok ? "cgroup v2 check: passed" : "cgroup v2 check: FAILED");
  process.exit(ok ? 0 : 1);
}

async function child() {
  const { limited } = await new Promise((resolve) => process.once("message", resolve));
  const source = new SystemMemorySource();
  const kernel = () => {
    const current = Number(readFileSync(`${limited}/memory.current`, "utf8"));
    const stat = readFileSync(`${limited}/memory.stat`, "utf8");
    return current - Number(/^inactive_file (\d+)$/m.exec(stat)?.[1] ?? 0);
  };
  const first = await source.read();
  const chunks = [];
  const levels = [];
  let maxErrorMiB = 0;
  let peakPercent = 0;
  const quiet = { child: () => quiet, info() {}, warn() {}, error() {}, debug() {} };
  const guard = new MemoryGuard({
    warnPercent: 50,
    shedPercent: 65,
    reclaimPercent: 80,
    hysteresisPercent: 5,
    reclaimCooldownMs: 0,
    ladderStepMs: 0,
    ladders: {},
    logger: quiet,
    onLevel: (change) => levels.push(change.to),
    reclaim: {
      clearCaches: () => [],
      unloadIdle: () => [],
      unloadIdleModel: () => undefined,
      // What stopping the largest worker does to memory: it goes back.
      stopLargestWorker: () => {
        const bytes = chunks.reduce((n, c) => n + c.length, 0);
        chunks.length = 0;
        return { model: "check", replica: "check#0", rssBytes: bytes };
      },
      reloadUnloaded: () => undefined,
    },
  });
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    // The kernel's figure just before and just after the read: V8 may free buffers on another
    // thread meanwhile, so the reading is compared with that interval.
    const before = kernel();
    const reading = await source.read();
    const after = kernel();
    const low = Math.min(before, after);
    const high = Math.max(before, after);
    const off = Math.max(0, low - reading.usedBytes, reading.usedBytes - high);
    maxErrorMiB = Math.max(maxErrorMiB, off / MiB);
    const percent = (reading.usedBytes / reading.limitBytes) * 100;
    peakPercent = Math.max(peakPercent, percent);
    guard.observe({
      at: Date.now(),
      memory: reading,
      memoryPercent: percent,
      cpuRatio: 0,
      processes: [],
    });
    if (guard.level === "ok" && levels.includes("reclaim")) break;
    // Fill 8 MiB at a time (touched, so the pages are really charged) until reclaim frees it.
    if (!levels.includes("reclaim")) chunks.push(Buffer.allocUnsafe(8 * MiB).fill(1));
    if (global.gc) global.gc();
    await new Promise((r) => setTimeout(r, 20));
  }
  process.send({
    cgroup: readFileSync("/proc/self/cgroup", "utf8").trim(),
    first,
    levels,
    peakPercent: Math.round(peakPercent * 10) / 10,
    maxErrorMiB: Math.round(maxErrorMiB * 100) / 100,
    final: await source.read(),
  });
  await new Promise((r) => setTimeout(r, 100));
  process.exit(0);
}
