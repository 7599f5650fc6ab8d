/**
 * Memory pressure levels with hysteresis. Pure: the caller passes each reading in. A level is
 * entered as soon as use reaches its threshold, and left only once use falls the hysteresis
 * below it, so a reading that hovers around a threshold does not flap between levels.
 */
export type PressureLevel = "ok" | "warn" | "shed" | "reclaim";

export const LEVEL_ORDER: readonly PressureLevel[] = ["ok", "warn", "shed", "reclaim"];

export interface Thresholds {
  warnPercent: number;
  shedPercent: number;
  reclaimPercent: number;
  hysteresisPercent: number;
}

export interface LevelChange {
  from: PressureLevel;
  to: PressureLevel;
  percent: number;
}

/** The rank of a level: ok 0, warn 1, shed 2, reclaim 3 (also the value of the metric). */
export function levelRank(level: PressureLevel): number {
  return LEVEL_ORDER.indexOf(level);
}

export class PressureLevels {
  private current: PressureLevel = "ok";

  constructor(private readonly t: Thresholds) {
    if (!(t.warnPercent <= t.shedPercent && t.shedPercent <= t.reclaimPercent)) {
      throw new RangeError("thresholds must satisfy warn <= shed <= reclaim");
    }
  }

  get level(): PressureLevel {
    return this.current;
  }

  private threshold(level: PressureLevel): number {
    switch (level) {
      case "warn":
        return this.t.warnPercent;
      case "shed":
        return this.t.shedPercent;
      case "reclaim":
        return this.t.reclaimPercent;
      default:
        return 0;
    }
  }

  /** Where shedding ends: the shed threshold less the hysteresis. */
  get resumePercent(): number {
    return this.t.shedPercent - this.t.hysteresisPercent;
  }

  /** Takes one reading (percent of the limit); returns the change, if the level changed. */
  update(percent: number): LevelChange | undefined {
    const from = this.current;
    let rank = levelRank(from);
    // Up: the highest level whose threshold is reached.
    while (rank < 3 && percent >= this.threshold(LEVEL_ORDER[rank + 1]!)) rank++;
    // Down: one level at a time, each only below its threshold less the hysteresis.
    while (rank > 0 && percent < this.threshold(LEVEL_ORDER[rank]!) - this.t.hysteresisPercent) {
      rank--;
    }
    const to = LEVEL_ORDER[rank]!;
    if (to === from) return undefined;
    this.current = to;
    return { from, to, percent };
  }
}
