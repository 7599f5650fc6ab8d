import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
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

test("a limit on an ancestor cgroup counts; the cgroup nearest its limit wins", async (t) => {
  const root = mkdtempSync(join(tmpdir(), "bulwark-cgroot-"));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const slice = join(root, "bulwark.slice");
  const leaf = join(slice, "serve.service");
  mkdirSync(leaf, { recursive: true });
  const write = (dir: string, max: string, current: number) => {
    writeFileSync(join(dir, "memory.max"), `${max}\n`);
    writeFileSync(join(dir, "memory.current"), `${current}\n`);
    writeFileSync(join(dir, "memory.stat"), "anon 0\ninactive_file 0\n");
  };
  // The root cgroup has no memory.max. The slice is limited; the service under it is not.
  writeFileSync(join(root, "memory.current"), "9000000000\n");
  write(slice, "2000000000", 1_800_000_000);
  write(leaf, "max", 500_000_000);
  const source = () =>
    new SystemMemorySource({ cgroupDir: leaf, cgroupRoot: root, meminfo: "/nonexistent" });
  assert.deepEqual(await source().read(), {
    usedBytes: 1_800_000_000,
    limitBytes: 2_000_000_000,
    source: "cgroup",
  });
  // A tighter limit on the service itself (95% against the slice's 90%) wins.
  write(leaf, "1000000000", 950_000_000);
  assert.equal((await source().read()).limitBytes, 1_000_000_000);
  // A looser one (50%) does not.
  write(leaf, "1000000000", 500_000_000);
  assert.equal((await source().read()).limitBytes, 2_000_000_000);
});
