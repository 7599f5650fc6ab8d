/**
 * The open-loop arrival schedule, precomputed from a seed so that two runs (or two servers)
 * get the same request times. Gaps between arrivals are drawn from a gamma distribution with
 * shape = burstiness and mean 1/rate, as `vllm bench serve` does: burstiness 1 is a Poisson
 * process (exponential gaps), below 1 is burstier, above 1 is more even.
 */
import { seededRandom, type Random } from "../util/seeded-random.js";

export { seededRandom, type Random };

/** A standard normal draw (Box–Muller). */
function normal(random: Random): number {
  const u = 1 - random(); // (0, 1]: log(0) never happens
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** A gamma(shape, scale) draw: Marsaglia and Tsang's method; shape < 1 boosted by U^(1/shape). */
export function gammaSample(random: Random, shape: number, scale: number): number {
  if (!(shape > 0) || !(scale > 0)) throw new RangeError("gamma shape and scale must be > 0");
  if (shape < 1) {
    const u = 1 - random();
    return gammaSample(random, shape + 1, scale) * Math.pow(u, 1 / shape);
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = normal(random);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - random();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v * scale;
  }
}

/**
 * Arrival offsets in ms from the start for `count` requests at `rate` requests/s. A rate of
 * Infinity sends everything at once (offsets all 0). The first request goes at 0.
 */
export function arrivalOffsets(
  count: number,
  rate: number,
  burstiness: number,
  seed: number,
): number[] {
  if (!(rate > 0)) throw new RangeError("request rate must be > 0");
  if (!(burstiness > 0)) throw new RangeError("burstiness must be > 0");
  const offsets: number[] = [];
  if (!Number.isFinite(rate)) return Array.from({ length: count }, () => 0);
  const random = seededRandom(seed);
  // Mean gap 1/rate: shape × scale = 1/rate.
  const scaleS = 1 / (rate * burstiness);
  let t = 0;
  for (let i = 0; i < count; i++) {
    offsets.push(t);
    t += gammaSample(random, burstiness, scaleS) * 1000;
  }
  return offsets;
}
