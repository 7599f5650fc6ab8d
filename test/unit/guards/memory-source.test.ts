import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SystemMemorySource } from "../../../src/guards/index.js";

// The cgroup v2 and /proc/meminfo readers over files laid out as the kernel writes them.
function fixture(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "bulwark-memsrc-"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const MEMINFO =
  "MemTotal:       24576000 kB\nMemFree:         1000000 kB\nMemAvailable:   20480000 kB\n";

test("a cgroup v2 limit wins: use is memory.current less inactive file pages", async (t) => {
  const dir = fixture({
    "memory.max": "1073741824\n",
    "memory.current": "600000000\n",
    "memory.stat":
      "anon 400000000\nfile 200000000\ninactive_file 100000000\nactive_file 100000000\n",
    meminfo: MEMINFO,
  });
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const source = new SystemMemorySource({ cgroupDir: dir, meminfo: join(dir, "meminfo") });
  assert.deepEqual(await source.read(), {
    usedBytes: 500_000_000,
    limitBytes: 1_073_741_824,
    source: "cgroup",
  });
});

test("a cgroup without a limit (memory.max = max) falls back to /proc/meminfo", async (t) => {
  const dir = fixture({
    "memory.max": "max\n",
    "memory.current": "600000000\n",
    meminfo: MEMINFO,
  });
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const source = new SystemMemorySource({ cgroupDir: dir, meminfo: join(dir, "meminfo") });
  assert.deepEqual(await source.read(), {
    usedBytes: (24_576_000 - 20_480_000) * 1024,
    limitBytes: 24_576_000 * 1024,
    source: "meminfo",
  });
});
