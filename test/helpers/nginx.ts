/**
 * nginx in front of gateway processes, for the load-balancer tests and bench/cluster.mjs:
 * the shipped deploy/nginx/bulwark.conf with the test's own ports, under a directory of its
 * own, stopped by PID. Also the gateway processes themselves (gateway-child.ts) on the fake
 * engine, which a test kills with SIGKILL.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { repoRoot } from "./paths.js";

export const NGINX_BIN = "/usr/sbin/nginx";

/** Why the nginx tests cannot run here, or undefined when they can. */
export function nginxMissing(): string | undefined {
  return existsSync(NGINX_BIN) ? undefined : `${NGINX_BIN} is not installed (apt install nginx)`;
}

/**
 * The shipped config with `listen` and the upstream servers replaced; the designated instance
 * of the Files and Batch API is `batchPort` (default: the first gateway).
 */
export function nginxSiteConfig(
  listenPort: number,
  upstreamPorts: number[],
  batchPort = upstreamPorts[0],
): string {
  const shipped = readFileSync(join(repoRoot(), "deploy", "nginx", "bulwark.conf"), "utf8");
  const servers = upstreamPorts
    .map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=10s;`)
    .join("\n");
  let first = true;
  return shipped
    .replace(/^ {4}server 127\.0\.0\.1:\d+ [^\n]*;\n?/gm, () => {
      if (!first) return "";
      first = false;
      return servers + "\n";
    })
    .replace(/^ {4}listen \d+;/m, `    listen 127.0.0.1:${listenPort};`)
    .replace(/^ {4}server 127\.0\.0\.1:\d+;$/m, `    server 127.0.0.1:${batchPort};`);
}

export interface TestNginx {
  url: string;
  child: ChildProcess;
  /** Each request nginx answered: its status and the gateway(s) it tried, in order. */
  log(): { status: number; upstreams: string[]; upstreamStatus: string }[];
  close(): Promise<void>;
}

export async function startNginx(
  listenPort: number,
  upstreamPorts: number[],
  batchPort?: number,
): Promise<TestNginx> {
  const dir = mkdtempSync(join(tmpdir(), "bulwark-nginx-"));
  writeFileSync(join(dir, "bulwark.conf"), nginxSiteConfig(listenPort, upstreamPorts, batchPort));
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
    .map((t) => `  ${t}_temp_path ${join(dir, t)};`)
    .join("\n");
  writeFileSync(
    join(dir, "nginx.conf"),
    `daemon off;
worker_processes 1;
pid ${join(dir, "nginx.pid")};
error_log ${join(dir, "error.log")} warn;
events { worker_connections 1024; }
http {
  log_format upstreams '$status|$upstream_addr|$upstream_status';
  access_log ${join(dir, "access.log")} upstreams;
${temp}
  include ${join(dir, "bulwark.conf")};
}
`,
  );
  const child = spawn(
    NGINX_BIN,
    ["-p", dir, "-c", join(dir, "nginx.conf"), "-e", join(dir, "error.log")],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const url = `http://127.0.0.1:${listenPort}`;
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}`);
    const res = await fetch(`${url}/livez`).catch(() => undefined);
    if (res) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    child,
    log: () => {
      let text = "";
      try {
        text = readFileSync(join(dir, "access.log"), "utf8");
      } catch {
        return [];
      }
      return text
        .split("\n")
        .filter(Boolean)
        .map((line) => {
          const [status, addr, upstreamStatus] = line.split("|");
          return {
            status: Number(status),
            upstreams: (addr ?? "").split(/,\s*/).filter((a) => a && a !== "-"),
            upstreamStatus: upstreamStatus ?? "",
          };
        });
    },
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((r) => child.once("exit", r));
        process.kill(child.pid!, "SIGQUIT");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        await gone;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface GatewayProcess {
  url: string;
  adminUrl: string;
  child: ChildProcess;
  /** SIGKILL: a node that dies with requests in flight. */
  kill(): Promise<void>;
  /** SIGTERM, then SIGKILL after 15 s. */
  stop(): Promise<void>;
}

/** A gateway process (gateway-child.ts) with these config fields; resolves once ready. */
export async function spawnGateway(
  overrides: Record<string, unknown>,
  options: { tokenDelayMs?: number; adminKey?: string } = {},
): Promise<GatewayProcess> {
  const script = join(repoRoot(), "dist", "test", "helpers", "gateway-child.js");
  const child = spawn(process.execPath, [script, JSON.stringify({ overrides, ...options })], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`gateway exited ${code}: ${stderr}`)));
  });
  const { url, adminUrl } = JSON.parse(line) as { url: string; adminUrl: string };
  const ended = new Promise((r) => child.once("exit", r));
  const signal = async (sig: NodeJS.Signals, graceMs: number) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    process.kill(child.pid!, sig);
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await ended;
    clearTimeout(timer);
  };
  return {
    url,
    adminUrl,
    child,
    kill: () => signal("SIGKILL", 5_000),
    stop: () => signal("SIGTERM", 15_000),
  };
}
