/** Settings and admin bodies parsed with a schema: the first problem is the client's 400. */
import type { z } from "zod";
import { BulwarkError } from "./bulwark-error.js";

/** Parses `input`; throws invalid_request "FIELD: message" naming the field (or "body"). */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const param = issue.path.join(".") || null;
  throw new BulwarkError("invalid_request", `${param ?? "body"}: ${issue.message}`, { param });
}
