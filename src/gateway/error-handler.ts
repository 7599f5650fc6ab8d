/**
 * One place maps every failure to OpenAI's error envelope: catalog errors keep their code,
 * Fastify's own errors (bad JSON, body too large, wrong content type) get theirs, and anything
 * unexpected becomes internal_error with a generic message. No stack trace or file path ever
 * reaches a client; the log gets the details.
 */
import type { FastifyError, FastifyInstance } from "fastify";
import { BulwarkError } from "../errors/index.js";
import type { Logger } from "../observability/index.js";

function fromFastify(err: FastifyError): BulwarkError | undefined {
  switch (err.code) {
    case "FST_ERR_CTP_INVALID_JSON_BODY":
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new BulwarkError("invalid_json", "The request body is not valid JSON.");
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new BulwarkError("body_too_large");
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return new BulwarkError("unsupported_media_type");
    default:
      break;
  }
  if (err instanceof SyntaxError || (err.statusCode === 400 && /JSON/i.test(err.message))) {
    return new BulwarkError("invalid_json", "The request body is not valid JSON.");
  }
  return undefined;
}

/** Maps anything thrown in a request to a BulwarkError. */
export function toClientError(err: unknown): BulwarkError {
  if (err instanceof BulwarkError) return err;
  if (err && typeof err === "object" && "code" in err) {
    const mapped = fromFastify(err as FastifyError);
    if (mapped) return mapped;
  }
  return new BulwarkError("internal_error", undefined, { cause: err });
}

export function installErrorHandling(app: FastifyInstance, logger: Logger): void {
  app.setErrorHandler((err, request, reply) => {
    const error = toClientError(err);
    request.record.errorCode = error.code;
    if (error.code === "internal_error") {
      logger.error({ reqId: request.id, err }, "request failed");
    }
    void reply.status(error.status).headers(error.responseHeaders()).send(error.toBody());
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split("?")[0] ?? "/";
    const allowed = METHODS.filter((method) => app.hasRoute({ method, url: path }));
    const error =
      allowed.length > 0
        ? new BulwarkError("method_not_allowed", `${request.method} is not allowed on ${path}.`, {
            headers: { allow: allowed.join(", ") },
          })
        : new BulwarkError("not_found", `No route ${request.method} ${path}.`);
    request.record.errorCode = error.code;
    void reply.status(error.status).headers(error.responseHeaders()).send(error.toBody());
  });
}

const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"] as const;
