/**
 * The check of a batch input file, one line at a time as it streams in: each line is a JSON
 * object `{custom_id, method: "POST", url, body}`, its body is validated by the same parser as
 * the live endpoint (passed in, never copied), every line names the same model and endpoint,
 * custom_ids are unique, and the file holds at most `maxRequests` requests. Pure: no I/O.
 */
import { BulwarkError } from "../errors/index.js";

export const BATCH_ENDPOINTS = [
  "/v1/chat/completions",
  "/v1/completions",
  "/v1/embeddings",
] as const;
export type BatchEndpoint = (typeof BATCH_ENDPOINTS)[number];

export function isBatchEndpoint(url: unknown): url is BatchEndpoint {
  return typeof url === "string" && (BATCH_ENDPOINTS as readonly string[]).includes(url);
}

/** Validates one request body as the live endpoint does; throws its BulwarkError. */
export type BodyParser = (body: unknown) => { model: string; stream?: boolean | null };

export interface LineCheckSettings {
  maxRequests: number;
  /** The live endpoints' body parsers. */
  parsers: Readonly<Record<BatchEndpoint, BodyParser>>;
  /** Whether a model is served here. */
  modelServed(name: string): boolean;
}

/** What a valid input file holds. */
export interface InputSummary {
  requests: number;
  model: string;
  endpoint: BatchEndpoint;
}

/** custom_id bound: long enough for any client's own ids, short enough to index. */
export const MAX_CUSTOM_ID = 512;

function lineError(line: number, message: string, param: string | null = null): BulwarkError {
  return new BulwarkError("invalid_file", `Line ${line}: ${message}`, { param });
}

export class InputFileChecker {
  private readonly ids = new Set<string>();
  private model: string | undefined;
  private endpoint: BatchEndpoint | undefined;
  private requests = 0;
  private lineNo = 0;

  constructor(private readonly settings: LineCheckSettings) {}

  /** Checks the next line of the file (without its newline); throws invalid_file naming it. */
  line(text: string): void {
    const n = ++this.lineNo;
    if (text.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw lineError(n, "not valid JSON.");
    }
    if (!value || typeof value !== "object" || Array.isArray(value)) {
      throw lineError(n, "must be a JSON object with custom_id, method, url and body.");
    }
    const { custom_id: customId, method, url, body, ...rest } = value as Record<string, unknown>;
    const extra = Object.keys(rest)[0];
    if (extra !== undefined) throw lineError(n, `unknown field ${extra}.`, extra);
    if (typeof customId !== "string" || customId === "" || customId.length > MAX_CUSTOM_ID) {
      throw lineError(
        n,
        `custom_id must be a string of 1 to ${MAX_CUSTOM_ID} characters.`,
        "custom_id",
      );
    }
    if (method !== "POST") throw lineError(n, 'method must be "POST".', "method");
    if (!isBatchEndpoint(url)) {
      throw lineError(n, `url must be one of ${BATCH_ENDPOINTS.join(", ")}.`, "url");
    }
    if (this.endpoint !== undefined && url !== this.endpoint) {
      throw lineError(
        n,
        `every line of a batch must use one url (line 1 uses ${this.endpoint}).`,
        "url",
      );
    }
    if (this.ids.has(customId)) {
      throw lineError(n, `custom_id ${JSON.stringify(customId)} is repeated.`, "custom_id");
    }
    let parsed;
    try {
      parsed = this.settings.parsers[url](body);
    } catch (err) {
      if (!(err instanceof BulwarkError)) throw err;
      const param = err.param ? `body.${err.param}` : "body";
      throw lineError(n, err.message, param);
    }
    if (parsed.stream) throw lineError(n, "stream is not supported in a batch.", "body.stream");
    if (this.model !== undefined && parsed.model !== this.model) {
      throw lineError(
        n,
        `every line of a batch must name one model (line 1 names ${this.model}).`,
        "body.model",
      );
    }
    if (this.model === undefined && !this.settings.modelServed(parsed.model)) {
      throw lineError(n, `the model ${parsed.model} is not served here.`, "body.model");
    }
    if (++this.requests > this.settings.maxRequests) {
      throw lineError(n, `a batch holds at most ${this.settings.maxRequests} requests.`);
    }
    this.ids.add(customId);
    this.model = parsed.model;
    this.endpoint = url;
  }

  /** The summary once every line passed; throws when the file holds no request. */
  finish(): InputSummary {
    if (this.requests === 0 || !this.model || !this.endpoint) {
      throw new BulwarkError("invalid_file", "The file holds no request line.");
    }
    return { requests: this.requests, model: this.model, endpoint: this.endpoint };
  }
}
