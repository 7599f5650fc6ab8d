/**
 * The LineExecutor over the live API: each line is sent through the public app's inject(), with
 * the batch line header (line-identity.ts), so it takes exactly the path of a live request of
 * its key (validation, limits, cache, masking, usage, the same engines and routing) and its
 * answer is byte for byte what that request would get. No socket is opened.
 */
import type { LineExecutor, LineRequest, LineResponse } from "./runner.js";
import { BATCH_LINE_HEADER, type BatchLineIdentity } from "./line-identity.js";

/** What the executor needs of the app: Fastify's inject(). */
export interface Injector {
  inject(options: {
    method: "POST";
    url: string;
    headers: Record<string, string>;
    payload: string;
    remoteAddress?: string;
  }): Promise<{ statusCode: number; body: string; headers: Record<string, unknown> }>;
}

export class InjectExecutor implements LineExecutor {
  constructor(
    private readonly identity: BatchLineIdentity,
    private readonly app: () => Injector,
  ) {}

  async execute(line: LineRequest): Promise<LineResponse> {
    const res = await this.app().inject({
      method: "POST",
      url: line.url,
      headers: {
        "content-type": "application/json",
        [BATCH_LINE_HEADER]: this.identity.header(line.batchId, line.customId),
      },
      payload: line.body,
      ...(line.clientIp ? { remoteAddress: line.clientIp } : {}),
    });
    const retryAfter = Number(res.headers["retry-after"]);
    return {
      status: res.statusCode,
      body: res.body,
      requestId: String(res.headers["x-request-id"] ?? ""),
      ...(Number.isFinite(retryAfter) ? { retryAfterMs: retryAfter * 1000 } : {}),
    };
  }
}
