/**
 * The access log: one JSON line per request in a file of its own, with rotation and retention.
 * It holds the key id (never the key), the client IP, the model, tokens, time to first token,
 * latency, status and error code. Every string passes through the PII masker first.
 */
import { maskValue } from "../privacy/index.js";
import { RotatingFile, type RotationOptions } from "./rotating-file.js";

export interface AccessRecord {
  reqId: string;
  time: string;
  keyId?: string;
  ip?: string;
  method: string;
  path: string;
  model?: string;
  stream?: boolean;
  promptTokens?: number;
  completionTokens?: number;
  ttftMs?: number;
  latencyMs: number;
  status: number;
  errorCode?: string;
  clientGone?: boolean;
}

export class AccessLog {
  private readonly file: RotatingFile;

  constructor(path: string, rotation: RotationOptions, now: () => number = Date.now) {
    this.file = new RotatingFile(path, rotation, now);
  }

  get path(): string {
    return this.file.path;
  }

  write(record: AccessRecord): void {
    this.file.write(JSON.stringify(maskValue(record)));
  }

  close(): void {
    this.file.close();
  }
}
