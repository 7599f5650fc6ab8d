/**
 * Turns a JSON body into a typed request or a 400 that names the field, in OpenAI's shape.
 */
import type { z } from "zod";
import { BulwarkError } from "../../errors/index.js";

/** OpenAI writes paths as messages[0].content. */
export function formatParam(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}

function describe(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      return `expected ${issue.expected}`;
    case "too_small":
      return issue.origin === "array" || issue.origin === "string"
        ? `must have at least ${String(issue.minimum)} ${issue.origin === "array" ? "items" : "characters"}`
        : `must be ${issue.inclusive ? ">=" : ">"} ${String(issue.minimum)}`;
    case "too_big":
      return issue.origin === "array" || issue.origin === "string"
        ? `must have at most ${String(issue.maximum)} ${issue.origin === "array" ? "items" : "characters"}`
        : `must be ${issue.inclusive ? "<=" : "<"} ${String(issue.maximum)}`;
    case "invalid_value":
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    default:
      return issue.message;
  }
}

function valueAt(body: unknown, path: readonly PropertyKey[]): unknown {
  let node = body;
  for (const key of path) {
    if (typeof node !== "object" || node === null) return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

/** Parses `body` with `schema`; the first problem becomes a BulwarkError naming its field. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new BulwarkError("invalid_request", "The request body must be a JSON object.");
  }
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  if (issue.code === "unrecognized_keys") {
    const key = issue.keys[0] ?? "";
    const param = formatParam([...issue.path, key]);
    throw new BulwarkError(
      "unsupported_parameter",
      `Unrecognized or unsupported parameter: '${param}'.`,
      {
        param,
      },
    );
  }
  const param = formatParam(issue.path);
  const missing = issue.code === "invalid_type" && valueAt(body, issue.path) === undefined;
  if (missing) {
    throw new BulwarkError("missing_parameter", `Missing required parameter: '${param}'.`, {
      param,
    });
  }
  throw new BulwarkError("invalid_request", `Invalid value for '${param}': ${describe(issue)}.`, {
    param,
  });
}

/** A parameter Bulwark knows but does not support, unless it holds its neutral value. */
export function refuseUnsupported(param: string, value: unknown, neutral: (v: unknown) => boolean) {
  if (value === undefined || value === null || neutral(value)) return;
  throw new BulwarkError(
    "unsupported_parameter",
    `The parameter '${param}' is not supported by this server${
      param === "n" ? " (only n = 1)" : ""
    }.`,
    { param },
  );
}
