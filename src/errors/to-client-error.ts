/**
 * The one mapping from anything thrown to a BulwarkError a client may see: catalog errors keep
 * their code, errors from the HTTP framework (bad JSON, body too large, wrong content type) and
 * from engine workers (a string catalog code with a message) get theirs, and anything else
 * becomes internal_error with the catalog's generic message. No stack trace, file path or
 * internal message reaches a client: it stays in the error's cause, for the log.
 */
import { BulwarkError } from "./bulwark-error.js";
import { isErrorCode } from "./catalog.js";

/** Fastify's error codes for a body it could not take, by the catalog code they mean. */
const frameworkCodes: Record<string, () => BulwarkError> = {
  FST_ERR_CTP_INVALID_JSON_BODY: () => invalidJson(),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => invalidJson(),
  FST_ERR_CTP_BODY_TOO_LARGE: () => new BulwarkError("body_too_large"),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () => new BulwarkError("unsupported_media_type"),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () => new BulwarkError("unsupported_media_type"),
};

function invalidJson(): BulwarkError {
  return new BulwarkError("invalid_json", "The request body is not valid JSON.");
}

function field(err: object, key: string): unknown {
  return (err as Record<string, unknown>)[key];
}

/** Maps anything thrown while serving a request to the error its client gets. */
export function toClientError(err: unknown): BulwarkError {
  if (err instanceof BulwarkError) return err;
  if (err && typeof err === "object") {
    const code = field(err, "code");
    const message = field(err, "message");
    if (typeof code === "string") {
      const framework = frameworkCodes[code];
      if (framework) return framework();
      // An engine worker's error names a catalog code; internal_error keeps the generic text.
      if (isErrorCode(code) && code !== "internal_error" && typeof message === "string") {
        const param = field(err, "param");
        return new BulwarkError(code, message, {
          param: typeof param === "string" ? param : null,
          cause: err,
        });
      }
      // A framework error without a known code that is about the body's JSON.
      const status = field(err, "statusCode");
      if (err instanceof SyntaxError || (status === 400 && /JSON/i.test(String(message)))) {
        return invalidJson();
      }
    }
  }
  return new BulwarkError("internal_error", undefined, { cause: err });
}
