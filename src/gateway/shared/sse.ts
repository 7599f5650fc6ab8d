/**
 * Server-sent events over a raw Node response: headers go out with the first event (so an error
 * before any token is still an ordinary HTTP error), writes respect backpressure, and a client
 * that goes away is noticed at once.
 */
import type { ServerResponse } from "node:http";

export class SseResponse {
  private started = false;
  private gone = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly headers: Record<string, string>,
  ) {
    res.on("close", () => {
      if (!res.writableFinished) this.gone = true;
    });
  }

  /** True when the client closed the connection before the stream ended. */
  get clientGone(): boolean {
    return this.gone;
  }

  get hasStarted(): boolean {
    return this.started;
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.res.writeHead(200, {
      ...this.headers,
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      // No Connection header: Node's server decides keep-alive from the request (a client that
      // sent `Connection: close` gets `close`); overriding it made clients reuse closed sockets.
      "x-accel-buffering": "no",
    });
  }

  /** Sends one `data:` event; resolves when the socket can take more. */
  async send(data: unknown): Promise<void> {
    await this.write(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`);
  }

  private async write(text: string): Promise<void> {
    if (this.gone || this.res.destroyed) return;
    this.start();
    if (!this.res.write(text)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.res.off("drain", done);
          this.res.off("close", done);
          resolve();
        };
        this.res.on("drain", done);
        this.res.on("close", done);
      });
    }
  }

  /** Ends the stream with `data: [DONE]`. */
  async done(): Promise<void> {
    await this.send("[DONE]");
    this.end();
  }

  end(): void {
    if (!this.res.writableEnded) this.res.end();
  }
}
