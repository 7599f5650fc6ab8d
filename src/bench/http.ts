/**
 * A small HTTP client on node:http with keep-alive: at thousands of requests per second the
 * client's own cost must stay well below the server's, and node:http costs less than fetch.
 */
import http from "node:http";
import https from "node:https";

export interface HttpTarget {
  /** Base URL without a trailing slash and without /v1, e.g. http://127.0.0.1:8080 */
  base: string;
  apiKey?: string;
  agent: http.Agent;
}

/** Normalizes a server URL: drops a trailing slash and a trailing /v1. */
export function normalizeBaseUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RangeError(`--url "${url}" is not a URL (e.g. http://127.0.0.1:8080)`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new RangeError(`--url must be http:// or https://, got ${parsed.protocol}`);
  }
  return parsed.href.replace(/\/+$/, "").replace(/\/v1$/, "");
}

export function createTarget(url: string, apiKey?: string): HttpTarget {
  const base = normalizeBaseUrl(url);
  const Agent = base.startsWith("https:") ? https.Agent : http.Agent;
  return { base, apiKey, agent: new Agent({ keepAlive: true, maxSockets: Infinity }) };
}

export interface OpenResponse {
  status: number;
  stream: http.IncomingMessage;
}

/**
 * POSTs JSON; resolves when the response headers arrive. `signal` aborts the request. A request
 * that fails on a reused keep-alive socket which the server had just closed (ECONNRESET, EPIPE)
 * is sent once more on a fresh socket, as Node's documentation advises: the server never saw it.
 */
export function postJson(
  target: HttpTarget,
  path: string,
  body: unknown,
  signal?: AbortSignal,
): Promise<OpenResponse> {
  const payload = Buffer.from(JSON.stringify(body));
  const headers: Record<string, string | number> = {
    "content-type": "application/json",
    "content-length": payload.length,
  };
  if (target.apiKey) headers.authorization = `Bearer ${target.apiKey}`;
  const url = new URL(target.base + path);
  const request = url.protocol === "https:" ? https.request : http.request;
  const attempt = (retry: boolean): Promise<OpenResponse> =>
    new Promise((resolve, reject) => {
      const req = request(url, { method: "POST", headers, agent: target.agent, signal }, (res) =>
        resolve({ status: res.statusCode ?? 0, stream: res }),
      );
      req.on("error", (err: NodeJS.ErrnoException) => {
        const stale = req.reusedSocket && (err.code === "ECONNRESET" || err.code === "EPIPE");
        if (retry && stale && !signal?.aborted) resolve(attempt(false));
        else reject(err);
      });
      req.end(payload);
    });
  return attempt(true);
}

/** Reads a whole body as text. */
export async function readText(stream: http.IncomingMessage): Promise<string> {
  let text = "";
  stream.setEncoding("utf8");
  for await (const chunk of stream) text += chunk as string;
  return text;
}

/** POSTs JSON and parses the JSON answer; throws with the status on anything but 200. */
export async function postForJson(target: HttpTarget, path: string, body: unknown) {
  const res = await postJson(target, path, body);
  const text = await readText(res.stream);
  if (res.status !== 200) {
    const err = new Error(`POST ${path} answered ${res.status}: ${text.slice(0, 300)}`);
    (err as Error & { status?: number }).status = res.status;
    throw err;
  }
  return JSON.parse(text) as Record<string, unknown>;
}
