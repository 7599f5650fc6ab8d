#!/usr/bin/env node
// Runs the compiled test suites with node:test, one suite after another.
// unit and http run two files at a time; e2e and security run one file at a time because each file starts
// real llama.cpp workers and the threads of all workers together must not exceed the cores.
// Usage: node scripts/run-tests.mjs [suite|path-substring ...]
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

const root = new URL("..", import.meta.url).pathname;
const suites = [
  { name: "unit", concurrency: 2, timeoutMs: 60_000 },
  { name: "http", concurrency: 2, timeoutMs: 120_000 },
  { name: "e2e", concurrency: 1, timeoutMs: 600_000 },
  // Attacks through the real entry points: hostile files, hostile requests, TLS, incidents.
  { name: "security", concurrency: 1, timeoutMs: 600_000 },
];

function listTests(dir) {
  let out = [];
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const entry of entries.sort()) {
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) out = out.concat(listTests(full));
    else if (entry.endsWith(".test.js")) out.push(full);
  }
  return out;
}

const filters = process.argv.slice(2);
let failed = false;
for (const suite of suites) {
  let files = listTests(join(root, "dist", "test", suite.name));
  if (filters.length > 0) {
    files = filters.includes(suite.name)
      ? files
      : files.filter((f) => filters.some((x) => f.includes(x)));
  }
  if (files.length === 0) continue;
  console.log(`\n=== ${suite.name}: ${files.length} file(s) ===`);
  const result = spawnSync(
    process.execPath,
    [
      "--test",
      `--test-concurrency=${suite.concurrency}`,
      `--test-timeout=${suite.timeoutMs}`,
      "--test-reporter=spec",
      ...files,
    ],
    { stdio: "inherit", cwd: root, env: { ...process.env, NODE_ENV: "test" } },
  );
  if (result.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
