/**
 * Samples memory and CPU every interval: the memory source, the machine's CPU, and each of
 * Bulwark's processes (the gateway and every worker). Reads are async file reads; a sample
 * that is still running when the next tick comes makes that tick skip, so a slow /proc never
 * piles up work on the event loop.
 */
import type {
  MemorySource,
  ProcessProbe,
  ProcessReading,
  ProcessRef,
  ResourceSample,
} from "./readings.js";

export interface MonitorOptions {
  memory: MemorySource;
  probe: ProcessProbe;
  /** The processes to watch, asked at every sample (workers come and go). */
  processes: () => ProcessRef[];
  intervalMs: number;
  now?: () => number;
}

export class ResourceMonitor {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private latest: ResourceSample | undefined;
  private readonly listeners: ((sample: ResourceSample) => void)[] = [];
  private readonly previousCpu = new Map<number, { at: number; cpuSeconds: number }>();
  private previousMachine: { busySeconds: number; totalSeconds: number } | undefined;
  private rssTotal = 0;
  private readonly now: () => number;

  constructor(private readonly options: MonitorOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Sum of the RSS of every watched process at the last sample (for a budget source). */
  ownRssBytes(): number {
    return this.rssTotal;
  }

  onSample(listener: (sample: ResourceSample) => void): void {
    this.listeners.push(listener);
  }

  last(): ResourceSample | undefined {
    return this.latest;
  }

  start(): void {
    if (this.timer) return;
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.options.intervalMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const sample = await this.sample();
      this.latest = sample;
      for (const listener of this.listeners) listener(sample);
    } catch {
      // A failed read skips one sample; the next tick tries again.
    } finally {
      this.running = false;
    }
  }

  /** Takes one sample now. */
  async sample(): Promise<ResourceSample> {
    const at = this.now();
    const refs = this.options.processes();
    const processes: ProcessReading[] = [];
    const seen = new Set<number>();
    await Promise.all(
      refs.map(async (ref) => {
        const s = ref.pid === null ? undefined : await this.options.probe.sample(ref.pid);
        let cpuRatio = 0;
        if (s && ref.pid !== null) {
          seen.add(ref.pid);
          const prev = this.previousCpu.get(ref.pid);
          if (prev && at > prev.at)
            cpuRatio = (s.cpuSeconds - prev.cpuSeconds) / ((at - prev.at) / 1000);
          this.previousCpu.set(ref.pid, { at, cpuSeconds: s.cpuSeconds });
        }
        processes.push({
          ...ref,
          rssBytes: s?.rssBytes ?? ref.reportedRssBytes ?? 0,
          cpuSeconds: s?.cpuSeconds ?? 0,
          cpuRatio: Math.max(0, cpuRatio),
        });
      }),
    );
    for (const pid of this.previousCpu.keys()) if (!seen.has(pid)) this.previousCpu.delete(pid);
    this.rssTotal = processes.reduce((n, p) => n + p.rssBytes, 0);
    const machine = await this.options.probe.machineCpu();
    let cpuRatio = 0;
    if (machine && this.previousMachine) {
      const total = machine.totalSeconds - this.previousMachine.totalSeconds;
      const busy = machine.busySeconds - this.previousMachine.busySeconds;
      cpuRatio = total > 0 ? Math.min(1, Math.max(0, busy / total)) : 0;
    }
    if (machine) this.previousMachine = machine;
    const memory = await this.options.memory.read();
    const memoryPercent = memory.limitBytes > 0 ? (memory.usedBytes / memory.limitBytes) * 100 : 0;
    return { at, memory, memoryPercent, cpuRatio, processes };
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
