/**
 * A redis-server of the test's own: a free 127.0.0.1 port, its own directory, no persistence;
 * stopped (or killed, to test a crash) by its PID. Tests skip with a message when Debian's
 * redis-server is not installed.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const REDIS_BIN = "/usr/bin/redis-server";

/** Why the Redis tests cannot run here, or undefined when they can. */
export function redisMissing(): string | undefined {
  return existsSync(REDIS_BIN)
    ? undefined
    : `${REDIS_BIN} is not installed (apt install redis-server)`;
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface TestRedis {
  url: string;
  port: number;
  /** Its data directory (where SAVE writes dump.rdb). */
  dir: string;
  pid(): number | undefined;
  /** SIGKILL: a crash, with no goodbye to the clients. */
  kill(): Promise<void>;
  /** Starts it again on the same port (empty: no persistence). */
  restart(): Promise<void>;
  /** Stops it and removes its directory. */
  close(): Promise<void>;
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: "127.0.0.1", port });
    let got = "";
    sock.setTimeout(500, () => {
      sock.destroy();
      resolve(false);
    });
    sock.on("error", () => resolve(false));
    sock.on("connect", () => sock.write("PING\r\n"));
    sock.on("data", (d) => {
      got += d.toString();
      if (got.includes("PONG")) {
        sock.end();
        resolve(true);
      }
    });
  });
}

/** `extraArgs` are added to redis-server's command line (e.g. `--rdbcompression no`). */
export async function startRedis(extraArgs: string[] = []): Promise<TestRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "bulwark-redis-"));
  let child: ChildProcess | undefined;
  const launch = async () => {
    child = spawn(
      REDIS_BIN,
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        dir,
        "--save",
        "",
        "--appendonly",
        "no",
        ...extraArgs,
      ],
      { stdio: "ignore" },
    );
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (await ping(port)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`redis-server did not answer on port ${port}`);
  };
  const stop = async (signal: NodeJS.Signals) => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((r) => c.once("exit", r));
    process.kill(c.pid!, signal);
    await gone;
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    pid: () => child?.pid,
    kill: () => stop("SIGKILL"),
    restart: launch,
    async close() {
      await stop("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
