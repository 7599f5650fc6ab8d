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
async function cgroupDir(): Promise<string | undefined> {
  const text = await readText("/proc/self/cgroup");
  const line = text?.split("\n").find((l) => l.startsWith("0::"));
  if (!line) return undefined;
  return `/sys/fs/cgroup${line.slice(3).trim()}`.replace(/\/$/, "");
}

/**
 * Memory of the cgroup when it has a v2 limit (the container's or the systemd unit's), else of
 * the machine. Use in a cgroup is memory.current less inactive file pages (the "working set"
 * the kubelet evicts on), since the kernel drops those before it OOM-kills anything.
 */
export class SystemMemorySource implements MemorySource {
  private dir: Promise<string | undefined> | undefined;

  /** The paths default to this process's cgroup and /proc/meminfo; tests point them at files. */
  constructor(private readonly paths: { cgroupDir?: string; meminfo?: string } = {}) {}

  async read(): Promise<MemoryReading> {
    this.dir ??= this.paths.cgroupDir ? Promise.resolve(this.paths.cgroupDir) : cgroupDir();
    const dir = await this.dir;
    if (dir) {
      const max = (await readText(`${dir}/memory.max`))?.trim();
      const current = Number((await readText(`${dir}/memory.current`))?.trim());
      if (max && max !== "max" && Number.isFinite(current)) {
        const stat = (await readText(`${dir}/memory.stat`)) ?? "";
        const inactive = Number(/^inactive_file (\d+)$/m.exec(stat)?.[1] ?? 0);
        return {
          usedBytes: Math.max(0, current - inactive),
          limitBytes: Number(max),
          source: "cgroup",
        };
      }
    }
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
