// The `bulwark serve` child process the bench scripts start: a free port for it, the wait for
// its readiness, its stop, and one serve-then-bench measurement.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A TCP port free on 127.0.0.1 right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * The environment of a `bulwark serve` whose engine is under measurement: its own home and admin
 * key, and the response cache off, since greedy and seeded requests would otherwise be answered
 * from it instead of by the engine.
 */
export function engineBenchEnv(home, apiKey) {
  return { BULWARK_HOME: home, BULWARK_ADMIN_KEY: apiKey, BULWARK_CACHE_ENABLED: "false" };
}

/** Resolves with the child once /readyz answers 200; kills it after 120 s without. */
export async function waitReady(child, port) {
  let stderr = "";
  child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`bulwark serve exited: ${stderr}`);
    const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
    if (res?.status === 200) return child;
    await sleep(200);
  }
  child.kill("SIGKILL");
  throw new Error(`bulwark serve did not get ready: ${stderr}`);
}

/** SIGTERM, then SIGKILL after `graceMs` (30 s); resolves once the child has exited. */
export async function stop(child, graceMs = 30_000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await gone;
  clearTimeout(timer);
}

/**
 * One measurement: `bulwark serve` started with the YAML config `configLines` (its own home,
 * admin key and free port), `bulwark bench` run against it with `benchArgs` (URL, key and
 * output added), then the server stopped. Resolves with the report's metrics and the load
 * average before the bench.
 */
export async function serveAndBench({ configLines, benchArgs }) {
  const root = join(import.meta.dirname, "..");
  const bin = join(root, "bin", "bulwark.js");
  const { generateKey } = await import(join(root, "dist", "src", "auth", "index.js"));
  const home = mkdtempSync(join(tmpdir(), "bulwark-bench-"));
  const key = generateKey().full;
  const port = await freePort();
  const config = join(home, "bulwark.yaml");
  writeFileSync(config, [...configLines, ""].join("\n"));
  const child = spawn(
    process.execPath,
    [
      bin,
      "serve",
      "--config",
      config,
      "--port",
      String(port),
      "--admin-port",
      "0",
      "--log-level",
      "warn",
    ],
    {
      env: { ...process.env, ...engineBenchEnv(home, key) },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  try {
    await waitReady(child, port);
    const load = loadavg()
      .map((x) => x.toFixed(2))
      .join(" ");
    const out = join(home, "result.json");
    execFileSync(
      process.execPath,
      [
        bin,
        "bench",
        "--url",
        `http://127.0.0.1:${port}`,
        "--api-key",
        key,
        "--no-progress",
        "--output",
        out,
        ...benchArgs,
      ],
      { stdio: ["ignore", "ignore", "inherit"], timeout: 600_000 },
    );
    return { load, metrics: JSON.parse(readFileSync(out, "utf8")).metrics };
  } finally {
    await stop(child);
    rmSync(home, { recursive: true, force: true });
  }
}
