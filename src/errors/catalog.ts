/**
 * The error catalog: every error Bulwark returns to a client has a stable string code, an HTTP
 * status, an OpenAI error type and a default message. docs/api.md lists every code; a unit test
 * fails when one is missing there.
 */
export interface ErrorSpec {
  readonly status: number;
  /** OpenAI's `error.type` field. */
  readonly type: ErrorType;
  readonly message: string;
}

export type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "not_found_error"
  | "rate_limit_error"
  | "server_error"
  | "service_unavailable";

function spec(status: number, type: ErrorType, message: string): ErrorSpec {
  return { status, type, message };
}

export const errorCatalog = {
  // Request shape and bounds (400 family)
  invalid_json: spec(400, "invalid_request_error", "The request body is not valid JSON."),
  invalid_request: spec(400, "invalid_request_error", "The request is invalid."),
  missing_parameter: spec(400, "invalid_request_error", "A required parameter is missing."),
  unsupported_parameter: spec(400, "invalid_request_error", "This parameter is not supported."),
  input_too_large: spec(400, "invalid_request_error", "An input is over its documented bound."),
  context_length_exceeded: spec(
    400,
    "invalid_request_error",
    "The prompt is longer than the model's context.",
  ),
  invalid_grammar: spec(400, "invalid_request_error", "The response format could not be compiled."),
  grammar_timeout: spec(
    400,
    "invalid_request_error",
    "The response format took too long to compile.",
  ),
  bad_http_request: spec(
    400,
    "invalid_request_error",
    "The request is not valid HTTP/1.1; the connection is closed.",
  ),
  headers_too_large: spec(
    431,
    "invalid_request_error",
    "The request headers are over the server's size limit; the connection is closed.",
  ),
  request_timeout: spec(
    408,
    "invalid_request_error",
    "The request was not received in time; the connection is closed.",
  ),
  body_too_large: spec(413, "invalid_request_error", "The request body is too large."),
  unsupported_media_type: spec(
    415,
    "invalid_request_error",
    "The request body must be application/json.",
  ),
  // Routing
  not_found: spec(404, "not_found_error", "No such route."),
  method_not_allowed: spec(405, "invalid_request_error", "Method not allowed on this route."),
  model_not_found: spec(404, "not_found_error", "The model does not exist."),
  // Access control (401, 403, 429)
  missing_api_key: spec(
    401,
    "authentication_error",
    "An API key is required: send it as 'Authorization: Bearer <key>'.",
  ),
  invalid_api_key: spec(401, "authentication_error", "The API key is not valid."),
  key_expired: spec(401, "authentication_error", "The API key has expired."),
  key_revoked: spec(401, "authentication_error", "The API key has been revoked."),
  permission_denied: spec(403, "permission_error", "This key's role may not use this route."),
  ip_denied: spec(403, "permission_error", "Requests from this address are not allowed."),
  csrf_token_invalid: spec(
    403,
    "permission_error",
    "A dashboard action needs the session's CSRF token in x-csrf-token.",
  ),
  ip_banned: spec(403, "permission_error", "This address is banned for a while."),
  rate_limit_exceeded: spec(429, "rate_limit_error", "Too many requests; retry later."),
  tokens_rate_limit_exceeded: spec(429, "rate_limit_error", "Too many tokens per minute."),
  concurrency_limit_exceeded: spec(
    429,
    "rate_limit_error",
    "Too many requests in flight for this key.",
  ),
  daily_budget_exceeded: spec(429, "rate_limit_error", "This key's daily token budget is spent."),
  key_not_found: spec(404, "not_found_error", "No API key with this id."),
  ban_not_found: spec(404, "not_found_error", "No ban in force on this address."),
  // Files and batches (src/batch/)
  file_not_found: spec(404, "not_found_error", "No such file."),
  batch_not_found: spec(404, "not_found_error", "No such batch."),
  invalid_file: spec(400, "invalid_request_error", "The file is not a valid batch input file."),
  file_too_large: spec(413, "invalid_request_error", "The file is over the size limit."),
  file_in_use: spec(409, "invalid_request_error", "An unfinished batch reads this file."),
  batch_not_cancellable: spec(409, "invalid_request_error", "The batch has already ended."),
  quota_exceeded: spec(429, "rate_limit_error", "This key's files or batches quota is spent."),
  // Capacity and engine state (5xx family)
  queue_full: spec(503, "service_unavailable", "The model's queue is full. Retry later."),
  queue_timeout: spec(
    503,
    "service_unavailable",
    "The request waited in the queue longer than allowed.",
  ),
  model_not_ready: spec(503, "service_unavailable", "The model has no ready worker yet."),
  shutting_down: spec(503, "service_unavailable", "The server is shutting down."),
  state_unavailable: spec(
    503,
    "service_unavailable",
    "The shared limit store cannot be reached, and this server refuses limited requests " +
      "until it can. Retry later.",
  ),
  data_key_unknown: spec(
    500,
    "server_error",
    "A stored value was sealed with an unknown data key.",
  ),
  sealed_value_invalid: spec(500, "server_error", "A stored value failed its integrity check."),
  maintenance: spec(
    503,
    "service_unavailable",
    "The server is locked down for a security incident. Retry later.",
  ),
  incident_active: spec(409, "invalid_request_error", "A lockdown is already in force."),
  incident_not_active: spec(409, "invalid_request_error", "No lockdown is in force."),
  memory_pressure: spec(
    503,
    "service_unavailable",
    "The server is short of memory and is not admitting new generation requests. Retry later.",
  ),
  model_load_refused_memory: spec(
    503,
    "service_unavailable",
    "Loading the model would take memory use over the warn threshold.",
  ),
  engine_failure: spec(
    502,
    "server_error",
    "The engine worker serving this request stopped while it was streaming.",
  ),
  backend_error: spec(
    502,
    "server_error",
    "The remote backend serving this model failed the request or sent an unreadable answer.",
  ),
  request_crashed_workers: spec(
    500,
    "server_error",
    "The request was running on two engine workers that both died; it is refused so that it " +
      "cannot take down every replica.",
  ),
  generation_timeout: spec(504, "server_error", "The generation did not finish in time."),
  // Model registry (admin API)
  model_busy: spec(
    409,
    "invalid_request_error",
    "The model has requests running or queued; unload it when it is idle.",
  ),
  registry_model_not_found: spec(
    404,
    "not_found_error",
    "No such model or version in the registry.",
  ),
  registry_version_exists: spec(
    409,
    "invalid_request_error",
    "This name:version is already in the registry.",
  ),
  registry_model_in_use: spec(
    409,
    "invalid_request_error",
    "The version is serving or aliased; pass force to remove it anyway.",
  ),
  registry_invalid_name: spec(
    400,
    "invalid_request_error",
    "The model name or version is invalid.",
  ),
  registry_invalid_model: spec(
    400,
    "invalid_request_error",
    "The file is not a GGUF model that can be loaded.",
  ),
  registry_file_not_found: spec(400, "invalid_request_error", "The file to import cannot be read."),
  registry_checksum_mismatch: spec(
    422,
    "invalid_request_error",
    "The model file does not match its recorded sha256.",
  ),
  registry_no_rollback: spec(
    409,
    "invalid_request_error",
    "The alias has no previous version to roll back to.",
  ),
  registry_download_failed: spec(502, "server_error", "The model download failed."),
  // Backups (admin API and `bulwark backup`)
  backup_not_found: spec(404, "not_found_error", "No complete backup with this id."),
  backup_in_progress: spec(
    409,
    "invalid_request_error",
    "A backup is being taken already; try again when it ends.",
  ),
  backup_corrupted: spec(
    422,
    "invalid_request_error",
    "A file of the backup does not match its recorded sha256.",
  ),
  backup_target_not_empty: spec(
    409,
    "invalid_request_error",
    "The home to restore into is not empty.",
  ),
  backup_key_unavailable: spec(
    500,
    "server_error",
    "The data key that encrypts backups is missing, unreadable or not the backup's.",
  ),
  backup_failed: spec(500, "server_error", "The backup could not be taken."),
  internal_error: spec(500, "server_error", "The server failed to handle the request."),
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof errorCatalog;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(errorCatalog, code);
}
