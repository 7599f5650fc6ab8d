import { test } from "node:test";
import assert from "node:assert/strict";
import { formatBytes, formatDuration } from "../../../src/util/format.js";
import { formatProgress } from "../../../src/util/progress-format.js";
import { progressDisplay, type ProgressSink } from "../../../src/util/progress-display.js";

/** A sink that records what was written, and a clock the test moves. */
function recorder(isTTY: boolean, columns?: number) {
  const out: string[] = [];
  const sink: ProgressSink = { write: (s: string) => out.push(s), isTTY, columns };
  const clock = { t: 1_000 };
  return { out, sink, clock, now: () => clock.t };
}

test("progress line: bytes, rate and time left from the counters and the clock", () => {
  const mib = 1024 * 1024;
  assert.equal(
    formatProgress("pull", "bytes", { done: 25 * mib, total: 100 * mib, elapsedMs: 5_000 }, 8),
    "pull [##......] 25.0 MiB / 100.0 MiB  5.0 MiB/s  ETA 0:15",
  );
  assert.equal(
    formatProgress("x", "bytes", { done: 10, total: 10, elapsedMs: 0 }, 4),
    "x [####] 10 B / 10 B  0 B/s  ETA 0:00",
  );
  assert.equal(formatDuration(3725), "1:02:05");
  assert.equal(formatDuration(65), "1:05");
  assert.equal(formatDuration(Infinity), "--:--");
  assert.equal(formatBytes(1234567), "1.18 MiB");
  assert.equal(formatBytes(1234567, 1), "1.2 MiB");
  assert.equal(formatBytes(1023), "1023 B");
  const { out, sink, clock, now } = recorder(true);
  const bar = progressDisplay("v", "bytes", { sink, now });
  bar.update(0, 100);
  clock.t += 50;
  bar.update(10, 100); // within 100 ms of the last draw: skipped
  clock.t += 100;
  bar.update(60, 100);
  bar.update(100, 100); // the end is always drawn
  bar.end();
  assert.equal(out.length, 4);
  assert.match(out[1]!, /^\rv \[#+\.+\] 60 B \/ 100 B {2}400 B\/s {2}ETA 0:00$/);
  assert.equal(out[3], "\n");
});

test("progress line: items with failures and elapsed time; percent with what is worked on", () => {
  assert.equal(
    formatProgress("requests", "items", { done: 3, total: 12, elapsedMs: 2_340, failed: 1 }, 12),
    "requests [###.........] 3/12 (1 failed) 2.3s",
  );
  assert.equal(
    formatProgress("requests", "items", { done: 12, total: 12, elapsedMs: 500 }, 4),
    "requests [####] 12/12 0.5s",
  );
  assert.equal(
    formatProgress(
      "converting",
      "percent",
      { done: 7, total: 20, elapsedMs: 0, detail: "blk.3" },
      10,
    ),
    "converting [####......]  35% blk.3",
  );
  // No work at all is finished work, not a division by zero.
  assert.equal(
    formatProgress("x", "percent", { done: 0, total: 0, elapsedMs: 0 }, 4),
    "x [####] 100%",
  );
});

test("progress display off a terminal: one line per tenth of the work, always the last", () => {
  const { out, sink, now } = recorder(false);
  const display = progressDisplay("generating", "percent", { sink, now, width: 10 });
  for (let i = 0; i <= 200; i++) display.update(i, 200);
  display.end();
  assert.equal(out.length, 11, out.join(""));
  assert.ok(out.every((line) => line.endsWith("\n") && !line.includes("\r")));
  assert.equal(out[0], "generating [..........]   0%\n");
  assert.equal(out[5], "generating [#####.....]  50%\n");
  assert.equal(out[10], "generating [##########] 100%\n");
});

test("progress display on a terminal: redrawn in place, cut to the width, leftovers cleared", () => {
  const { out, sink, clock, now } = recorder(true, 30);
  const display = progressDisplay("quantizing", "percent", { sink, now, width: 4 });
  display.update(1, 4, { detail: "a-long-tensor-name-that-does-not-fit" });
  clock.t += 100;
  display.update(2, 4, { detail: "b" });
  clock.t += 100;
  display.update(4, 4);
  display.end();
  assert.equal(out[0], "\rquantizing [#...]  25% a-long");
  assert.equal(out[0]!.length, 30, "cut to columns - 1, plus the carriage return");
  assert.equal(out[1], "\rquantizing [##..]  50% b".padEnd(30));
  assert.equal(out[2], "\rquantizing [####] 100%".padEnd(25));
  assert.equal(out[3], "\n");
  // Nothing drawn, nothing to end.
  const idle = recorder(true);
  progressDisplay("idle", "items", { sink: idle.sink }).end();
  assert.deepEqual(idle.out, []);
});
