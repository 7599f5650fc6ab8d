/**
 * Linux sources for the monitor, read with async file reads so a sample never blocks the event
 * loop: cgroup v2 memory.max / memory.current, /proc/meminfo, /proc/stat and /proc/PID/stat.
 * Elsewhere they fall back to os.totalmem/freemem and process.memoryUsage().
 */
import { readFile } from "node:fs/promises";
import { freemem, totalmem } from "node:os";
import type { MemoryReading, MemorySource, ProcessProbe, ProcessSample } from "./readings.js";

// USER_HZ: the unit of /proc/PID/stat's utime and stime. It is 100 on every Linux ABI Node
// supports (the kernel fixes it for user space, whatever CONFIG_HZ is).
const CLOCK_TICKS = 100;

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch {
    return undefined;
  }
}

/** The cgroup v2 folder of this process, from the "0::/path" line of /proc/self/cgroup. */
async function cgroupDir(root: string): Promise<string | undefined> {
  const text = await readText("/proc/self/cgroup");
  const line = text?.split("\n").find((l) => l.startsWith("0::"));
  if (!line) return undefined;
  return `${root}${line.slice(3).trim()}`.replace(/\/$/, "");
}

/** One cgroup's limit and working set, when it has a v2 memory limit. */
async function cgroupReading(dir: string): Promise<MemoryReading | undefined> {
  const max = (await readText(`${dir}/memory.max`))?.trim();
  if (!max || max === "max") return undefined;
  const current = Number((await readText(`${dir}/memory.current`))?.trim());
  const limit = Number(max);
  if (!Number.isFinite(current) || !Number.isFinite(limit) || limit <= 0) return undefined;
  const stat = (await readText(`${dir}/memory.stat`)) ?? "";
  const inactive = Number(/^inactive_file (\d+)$/m.exec(stat)?.[1] ?? 0);
  return { usedBytes: Math.max(0, current - inactive), limitBytes: limit, source: "cgroup" };
}

/**
 * Memory of the cgroup when it has a v2 limit (the container's or the systemd unit's), else of
 * the machine. Use in a cgroup is memory.current less inactive file pages (the "working set"
 * the kubelet evicts on), since the kernel drops those before it OOM-kills anything. The limit
 * may sit on an ancestor (a systemd slice, a pod's cgroup above the container's): every cgroup
 * from this process's up to the root is read, and the one nearest its limit, in percent, wins.
 */
export class SystemMemorySource implements MemorySource {
  private dir: Promise<string | undefined> | undefined;

  /**
   * The paths default to this process's cgroup under /sys/fs/cgroup and to /proc/meminfo;
   * tests point them at files.
   */
  constructor(
    private readonly paths: { cgroupDir?: string; cgroupRoot?: string; meminfo?: string } = {},
  ) {}

  /** The cgroups from this process's up to the root, the nearest first. */
  private async chain(): Promise<string[]> {
    const root = this.paths.cgroupRoot ?? "/sys/fs/cgroup";
    this.dir ??= this.paths.cgroupDir ? Promise.resolve(this.paths.cgroupDir) : cgroupDir(root);
    const dirs: string[] = [];
    for (let dir = await this.dir; dir;) {
      dirs.push(dir);
      if (dir === root || !dir.startsWith(`${root}/`)) break;
      dir = dir.slice(0, dir.lastIndexOf("/"));
    }
    return dirs;
  }

  async read(): Promise<MemoryReading> {
    let tightest: MemoryReading | undefined;
    for (const dir of await this.chain()) {
      const r = await cgroupReading(dir);
      if (r && (!tightest || r.usedBytes / r.limitBytes > tightest.usedBytes / tightest.limitBytes))
        tightest = r;
    }
    if (tightest) return tightest;
    const info = await readText(this.paths.meminfo ?? "/proc/meminfo");
    if (info) {
      const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(info)?.[1]);
      const total = kb("MemTotal");
      const available = kb("MemAvailable");
      if (Number.isFinite(total) && Number.isFinite(available)) {
        return {
          usedBytes: (total - available) * 1024,
          limitBytes: total * 1024,
          source: "meminfo",
        };
      }
    }
    return { usedBytes: totalmem() - freemem(), limitBytes: totalmem(), source: "os" };
  }
}

/** RSS from /proc/PID/status (VmRSS) and CPU time from /proc/PID/stat (utime + stime). */
export class ProcProbe implements ProcessProbe {
  async sample(pid: number): Promise<ProcessSample | undefined> {
    const [status, stat] = await Promise.all([
      readText(`/proc/${pid}/status`),
      readText(`/proc/${pid}/stat`),
    ]);
    if (status === undefined || stat === undefined) {
      if (pid !== process.pid) return undefined;
      const usage = process.cpuUsage();
      return {
        rssBytes: process.memoryUsage.rss(),
        cpuSeconds: (usage.user + usage.system) / 1e6,
      };
    }
    const rssKb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
    // Fields after the command name, which may itself hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
    return { rssBytes: rssKb * 1024, cpuSeconds: ticks / CLOCK_TICKS };
  }

  async machineCpu(): Promise<{ busySeconds: number; totalSeconds: number } | undefined> {
    const text = await readText("/proc/stat");
    const line = text?.split("\n").find((l) => l.startsWith("cpu "));
    if (!line) return undefined;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0); // idle + iowait
    return { busySeconds: (total - idle) / CLOCK_TICKS, totalSeconds: total / CLOCK_TICKS };
  }
}

/**
 * Use against a budget for Bulwark's own processes: the sum of the gateway's and the workers'
 * RSS. Shared pages (mmapped weights of replicas of one model) count once per process, so this
 * over-counts on purpose: a budget errs towards shedding early.
 */
export class BudgetMemorySource implements MemorySource {
  constructor(
    private readonly budgetBytes: number,
    private readonly rssTotal: () => number,
  ) {}

  async read(): Promise<MemoryReading> {
    return { usedBytes: this.rssTotal(), limitBytes: this.budgetBytes, source: "budget" };
  }
}
