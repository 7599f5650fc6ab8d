/** What the monitor reads: the memory limit and use, and each process's RSS and CPU. */

export interface MemoryReading {
  usedBytes: number;
  limitBytes: number;
  /** Where the figures came from: "cgroup" (v2 memory.max), "meminfo", "budget", or a test's. */
  source: string;
}

/** The machine's memory: the cgroup v2 limit when set, else /proc/meminfo. */
export interface MemorySource {
  read(): Promise<MemoryReading>;
}

/** One process Bulwark runs: the gateway itself, or an engine worker. */
export interface ProcessRef {
  role: "gateway" | "worker";
  pid: number | null;
  model?: string;
  replica?: string;
  /** The RSS the process reported itself (a worker's heartbeat), used when /proc is not there. */
  reportedRssBytes?: number;
}

export interface ProcessSample {
  rssBytes: number;
  /** Cumulative CPU time, in seconds. */
  cpuSeconds: number;
}

/** Reads a process's RSS and CPU time; undefined when the process is gone. */
export interface ProcessProbe {
  sample(pid: number): Promise<ProcessSample | undefined>;
  /** Cumulative busy and total CPU time of the machine, in seconds of all cores together. */
  machineCpu(): Promise<{ busySeconds: number; totalSeconds: number } | undefined>;
}

export interface ProcessReading extends ProcessRef {
  rssBytes: number;
  /** CPU use since the previous sample, as a share of one core (1 = a full core). */
  cpuRatio: number;
  cpuSeconds: number;
}

export interface ResourceSample {
  at: number;
  memory: MemoryReading;
  /** usedBytes / limitBytes × 100. */
  memoryPercent: number;
  /** Busy share of all the machine's cores since the previous sample, 0..1. */
  cpuRatio: number;
  processes: ProcessReading[];
}
