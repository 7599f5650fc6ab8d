/** Numbers as people read them: sizes in binary units, durations as a clock. */

/** 1234567 → "1.18 MiB" (`digits` decimals; whole bytes below 1 KiB). */
export function formatBytes(n: number, digits = 2): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(digits)} ${units[i]}`;
}

/** Seconds as a clock: 65 → "1:05", 3725 → "1:02:05"; an unknown time is "--:--". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "--:--";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}
