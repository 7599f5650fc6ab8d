import { errorCatalog, type ErrorCode, type ErrorType } from "./catalog.js";

export interface BulwarkErrorOptions {
  /** The request field the error is about, as OpenAI's `error.param`. */
  param?: string | null;
  /** Seconds the client should wait; sent as the Retry-After header. */
  retryAfterSeconds?: number;
  /** Extra response headers (for example OpenAI's x-ratelimit-* headers). */
  headers?: Record<string, string>;
  cause?: unknown;
}

/** OpenAI's error envelope. */
export interface OpenAIErrorBody {
  error: { message: string; type: ErrorType; param: string | null; code: ErrorCode };
}

/** A typed error with a stable code from the catalog; safe to show to a client. */
export class BulwarkError extends Error {
  readonly code: ErrorCode;
  readonly param: string | null;
  readonly retryAfterSeconds: number | undefined;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message?: string, options: BulwarkErrorOptions = {}) {
    super(message ?? errorCatalog[code].message, { cause: options.cause });
    this.name = "BulwarkError";
    this.code = code;
    this.param = options.param ?? null;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.headers = options.headers ?? {};
  }

  get status(): number {
    return errorCatalog[this.code].status;
  }

  get type(): ErrorType {
    return errorCatalog[this.code].type;
  }

  /** The OpenAI-shaped body sent to clients. */
  toBody(): OpenAIErrorBody {
    return {
      error: { message: this.message, type: this.type, param: this.param, code: this.code },
    };
  }

  /** Response headers, Retry-After included. */
  responseHeaders(): Record<string, string> {
    const headers = { ...this.headers };
    if (this.retryAfterSeconds !== undefined) {
      headers["retry-after"] = String(Math.max(1, Math.ceil(this.retryAfterSeconds)));
    }
    return headers;
  }
}
