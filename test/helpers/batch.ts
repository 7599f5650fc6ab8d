/** Helpers for the Files and Batch API tests: JSONL bodies, uploads, polling a batch. */
import { readResponse, waitFor } from "./server.js";

/** One chat request line of a batch input file. */
export function chatLine(customId: string, content: string, model = "fake", extra: object = {}) {
  return JSON.stringify({
    custom_id: customId,
    method: "POST",
    url: "/v1/chat/completions",
    body: { model, messages: [{ role: "user", content }], max_tokens: 4, temperature: 0, ...extra },
  });
}

export function jsonl(lines: string[]): string {
  return lines.join("\n") + "\n";
}

/** POST /v1/files as multipart with fetch's FormData. */
export async function upload(
  base: string,
  content: string | Blob,
  key?: string,
  purpose = "batch",
  filename = "input.jsonl",
) {
  const form = new FormData();
  form.append("purpose", purpose);
  form.append("file", typeof content === "string" ? new Blob([content]) : content, filename);
  const res = await fetch(`${base}/v1/files`, {
    method: "POST",
    body: form,
    headers: key ? { authorization: `Bearer ${key}` } : {},
  });
  return readResponse(res);
}

export async function api(
  base: string,
  method: string,
  path: string,
  key?: string,
  body?: unknown,
) {
  const headers: Record<string, string> = {};
  if (key) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return readResponse(res);
}

/** Polls GET /v1/batches/{id} until its status is one of `statuses`. */
export async function waitForBatch(
  base: string,
  id: string,
  statuses: string[],
  key?: string,
  timeoutMs = 30_000,
): Promise<any> {
  let last: any;
  const reached = await waitFor(async () => {
    last = (await api(base, "GET", `/v1/batches/${id}`, key)).json;
    return statuses.includes(last.status);
  }, timeoutMs);
  if (!reached)
    throw new Error(`batch ${id} never reached ${statuses.join("/")}: ${JSON.stringify(last)}`);
  return last;
}

/** The JSON lines of a text. */
export function parseJsonl(text: string): any[] {
  return text
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}
