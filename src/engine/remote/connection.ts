/**
 * HTTP to one remote backend over undici: a bounded pool for generation (as many connections
 * as the backend's slots, so no request waits inside the backend unseen), and a pool of one for
 * the health checks, so a check never queues behind streams. Timeouts: connect (and TLS),
 * first byte (the response headers), idle (silence between two parts of the body). TLS checks
 * the backend's certificate against `ca` (else the system's CAs) and presents `cert`/`key` when
 * given (mTLS). The API key goes in the Authorization header only; nothing here logs it.
 */
import { readFileSync } from "node:fs";
import { Pool, type Dispatcher } from "undici";
import type { BackendEntry } from "../../config/index.js";

export interface BackendResponse {
  status: number;
  body: Dispatcher.ResponseData["body"];
}

/** Bytes of an error answer read for its message. */
const ERROR_BODY_BYTES = 64 * 1024;

export class BackendConnection {
  private readonly pool: Pool;
  private readonly checks: Pool;
  private readonly base: URL;
  private readonly headers: Record<string, string>;

  constructor(private readonly entry: BackendEntry) {
    this.base = new URL(entry.url);
    const tls = this.base.protocol === "https:" ? tlsOptions(entry) : {};
    const options = {
      connect: { timeout: entry.connectTimeoutMs, ...tls },
      headersTimeout: entry.firstByteTimeoutMs,
      bodyTimeout: entry.idleTimeoutMs,
      keepAliveTimeout: 4_000,
    };
    this.pool = new Pool(this.base.origin, { ...options, connections: entry.slots });
    this.checks = new Pool(this.base.origin, { ...options, connections: 1 });
    this.headers = entry.apiKey ? { authorization: `Bearer ${entry.apiKey}` } : {};
  }

  private path(p: string): string {
    return `${this.base.pathname.replace(/\/$/, "")}${p}`;
  }

  /** A streamed POST of `body` to `path` (under the URL's path); abort with `signal`. */
  async post(path: string, body: unknown, signal: AbortSignal): Promise<BackendResponse> {
    const res = await this.pool.request({
      method: "POST",
      path: this.path(path),
      headers: { ...this.headers, "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify(body),
      signal,
    });
    return { status: res.statusCode, body: res.body };
  }

  /** The active health check: GET healthPath; resolves with its latency in ms, or throws. */
  async check(timeoutMs: number): Promise<number> {
    const started = performance.now();
    const res = await this.checks.request({
      method: "GET",
      path: this.path(this.entry.healthPath),
      headers: this.headers,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    await res.body.dump({ limit: ERROR_BODY_BYTES });
    if (res.statusCode < 200 || res.statusCode >= 300) {
      throw new Error(`health check answered ${res.statusCode}`);
    }
    return performance.now() - started;
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.destroy(), this.checks.destroy()]);
  }
}

/** Reads up to ERROR_BODY_BYTES of an error answer as JSON (undefined when it is not JSON). */
export async function readErrorBody(body: BackendResponse["body"]): Promise<unknown> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > ERROR_BODY_BYTES) break;
    parts.push(buf);
  }
  body.destroy();
  try {
    return JSON.parse(Buffer.concat(parts).toString("utf8"));
  } catch {
    return undefined;
  }
}

function tlsOptions(entry: BackendEntry) {
  return {
    rejectUnauthorized: true,
    minVersion: "TLSv1.2" as const,
    ...(entry.ca ? { ca: readFileSync(entry.ca) } : {}),
    ...(entry.cert && entry.key
      ? { cert: readFileSync(entry.cert), key: readFileSync(entry.key) }
      : {}),
  };
}
