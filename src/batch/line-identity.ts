/**
 * How a batch line reaches the live API as a request of its batch's key: the runner's request
 * carries a header with a secret made for this process (32 random bytes, never written out),
 * the batch id and the custom_id. The hook, right after the IP filter, checks the secret in
 * constant time, looks the batch's owner up in the ledger and puts that key in the request
 * context, with the batch lane's priority; auth, the key's model list, its rate limits, budgets
 * and masking then apply as to any request of that key. A header with any other value is
 * dropped and the request goes on as an ordinary one: no client can pose as a batch line.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { BulwarkError } from "../errors/index.js";
import type { KeyRecord } from "../auth/index.js";
import { BATCH_PRIORITY } from "../scheduler/index.js";

export const BATCH_LINE_HEADER = "x-bulwark-batch-line";

export class BatchLineIdentity {
  private readonly secret = randomBytes(32);

  /** The header value of one line. */
  header(batchId: string, customId: string): string {
    const id = Buffer.from(customId, "utf8").toString("base64url");
    return `${this.secret.toString("hex")}.${batchId}.${id}`;
  }

  /** The batch and custom_id a header value names, when its secret is this process's. */
  verify(value: string): { batchId: string; customId: string } | undefined {
    const [secret = "", batchId = "", id = ""] = value.split(".");
    const given = Buffer.from(secret, "hex");
    if (given.length !== this.secret.length || !timingSafeEqual(given, this.secret))
      return undefined;
    return { batchId, customId: Buffer.from(id, "base64url").toString("utf8") };
  }
}

export interface BatchLineHookOptions {
  identity: BatchLineIdentity;
  /** The key id that owns a batch ("" with auth off), or undefined when there is none. */
  ownerOf(batchId: string): string | undefined;
  /** The key's record if it may still be used from `ip` (throws key_revoked, key_expired…). */
  keyById?(id: string, ip: string): KeyRecord;
}

export function batchLineHook(options: BatchLineHookOptions) {
  return async function batchLine(request: FastifyRequest): Promise<void> {
    const value = request.headers[BATCH_LINE_HEADER];
    if (value === undefined) return;
    delete request.headers[BATCH_LINE_HEADER];
    const line = typeof value === "string" ? options.identity.verify(value) : undefined;
    if (!line) return;
    const owner = options.ownerOf(line.batchId);
    if (owner === undefined) throw new BulwarkError("batch_not_found");
    request.ctx.batch = line;
    request.ctx.gate.priority = BATCH_PRIORITY;
    if (owner !== "" && options.keyById) {
      request.ctx.key = options.keyById(owner, request.ctx.clientIp ?? "unknown");
    }
  };
}

/** Installs the hook; it must come after the IP filter and before auth. */
export function installBatchLine(
  app: FastifyInstance,
  options: BatchLineHookOptions | undefined,
): void {
  if (options) app.addHook("onRequest", batchLineHook(options));
}
