/** Reads a server-sent-events body into its data payloads (tests only). */
export function parseSse(body: string): string[] {
  return body
    .split("\n\n")
    .map((block) => block.trim())
    .filter((block) => block.length > 0)
    .map((block) =>
      block
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trimStart())
        .join("\n"),
    );
}

/** Parses every data payload except [DONE] as JSON. */
export function sseJson(body: string): Record<string, unknown>[] {
  return parseSse(body)
    .filter((d) => d !== "[DONE]")
    .map((d) => JSON.parse(d) as Record<string, unknown>);
}
