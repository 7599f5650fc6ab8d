/**
 * HTTP to one llama-server process over its Unix socket, with its API key, on a keep-alive
 * agent. Deadlines are plain timers (a request's socket is destroyed when one fires), not
 * AbortSignal.timeout, which was seen not to fire under Node 20 once collected.
 */
import { Agent, request, type ClientRequest, type IncomingMessage } from "node:http";

/** A non-2xx answer from llama-server, with its error envelope's message and type. */
export class ServerHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
  ) {
    super(message);
    this.name = "ServerHttpError";
  }
}

export interface StreamHandlers {
  onResponse(res: IncomingMessage): void;
  onError(err: Error): void;
}

/** An idle connection is closed after this long, before llama-server's own 5 s keep-alive. */
const IDLE_SOCKET_MS = 2_000;

export class ServerClient {
  private readonly agent: Agent;
  private readonly streamAgent: Agent;

  /**
   * `maxSockets`: llama-server serves each connection on one of its HTTP threads (slots + 4 by
   * default), so more connections than that would wait inside the server, invisible here.
   */
  constructor(
    private readonly socketPath: string,
    private readonly apiKey: string,
    maxSockets: number,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets, timeout: IDLE_SOCKET_MS });
    // A streamed answer gets a connection of its own, closed after it: llama-server may close a
    // connection once a stream ends, and a pooled socket closed under it fails the next call.
    this.streamAgent = new Agent({ keepAlive: false, maxSockets });
  }

  private open(method: string, path: string, body: unknown, streamed = false): ClientRequest {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request({
      agent: streamed ? this.streamAgent : this.agent,
      socketPath: this.socketPath,
      method,
      path,
      headers: {
        authorization: `Bearer ${this.apiKey}`,
        ...(streamed ? { connection: "close" } : {}),
        ...(payload === undefined
          ? {}
          : {
              "content-type": "application/json",
              "content-length": Buffer.byteLength(payload),
            }),
      },
    });
    req.end(payload);
    return req;
  }

  /**
   * One JSON call; rejects on a non-2xx answer or when it takes longer than timeoutMs. A call
   * whose pooled connection was closed before any answer (every call here is idempotent) is sent
   * once more on a fresh one.
   */
  async json<T>(method: string, path: string, body: unknown, timeoutMs: number): Promise<T> {
    try {
      return await this.jsonOnce<T>(method, path, body, timeoutMs);
    } catch (err) {
      if (!isStaleConnection(err)) throw err;
      return this.jsonOnce<T>(method, path, body, timeoutMs);
    }
  }

  private jsonOnce<T>(method: string, path: string, body: unknown, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const req = this.open(method, path, body);
      const timer = setTimeout(() => {
        req.destroy(new Error(`llama-server ${path} took longer than ${timeoutMs} ms`));
      }, timeoutMs);
      req.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.on("response", (res) => {
        const parts: Buffer[] = [];
        res.on("data", (c: Buffer) => parts.push(c));
        res.on("error", (err) => {
          clearTimeout(timer);
          reject(err);
        });
        res.on("end", () => {
          clearTimeout(timer);
          const text = Buffer.concat(parts).toString("utf8");
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : {};
          } catch {
            reject(new ServerHttpError(res.statusCode ?? 0, text.slice(0, 200), "bad_response"));
            return;
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve(parsed as T);
          else reject(errorFrom(status, parsed));
        });
      });
    });
  }

  /** Starts a streamed POST; the caller reads the response and destroys the request to abort. */
  stream(path: string, body: unknown, handlers: StreamHandlers): ClientRequest {
    const req = this.open("POST", path, body, true);
    req.on("response", (res) => handlers.onResponse(res));
    req.on("error", (err) => handlers.onError(err));
    return req;
  }

  close(): void {
    this.agent.destroy();
    this.streamAgent.destroy();
  }
}

/** llama-server's error envelope {error:{code,message,type}} as a ServerHttpError. */
export function errorFrom(status: number, body: unknown): ServerHttpError {
  const error =
    body && typeof body === "object" && "error" in body
      ? (body as { error: { message?: unknown; type?: unknown } }).error
      : undefined;
  const message =
    error && typeof error.message === "string" ? error.message : `llama-server answered ${status}`;
  const type = error && typeof error.type === "string" ? error.type : "server_error";
  return new ServerHttpError(status, message, type);
}

/** A reused connection that the server had closed: reset, or ended before any answer. */
function isStaleConnection(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === "ECONNRESET" || code === "EPIPE";
}
