/** Raw HTTP over a socket: requests no client library would send. */
import { connect } from "node:net";

export interface RawAnswer {
  status: number;
  headers: string;
  body: string;
}

/** Writes `bytes` to host:port and reads until the server closes or `timeoutMs` passes. */
export function rawRequest(
  url: string,
  bytes: Buffer | string,
  timeoutMs = 5000,
): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on("data", (d) => chunks.push(d));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString("latin1");
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      if (!m) return reject(new Error(`no HTTP answer: ${JSON.stringify(text.slice(0, 200))}`));
      const split = text.indexOf("\r\n\r\n");
      let body = split >= 0 ? text.slice(split + 4) : "";
      const headers = split >= 0 ? text.slice(0, split) : text;
      if (/transfer-encoding: chunked/i.test(headers)) body = unchunk(body);
      resolve({ status: Number(m[1]), headers, body });
    });
    socket.write(bytes);
  });
}

function unchunk(body: string): string {
  let out = "";
  let rest = body;
  for (;;) {
    const nl = rest.indexOf("\r\n");
    if (nl < 0) return out;
    const size = parseInt(rest.slice(0, nl), 16);
    if (!size) return out;
    out += rest.slice(nl + 2, nl + 2 + size);
    rest = rest.slice(nl + 2 + size + 2);
  }
}

/** True when `body` is OpenAI's error envelope with exactly its four fields. */
export function isOpenAiError(body: string): boolean {
  try {
    const j = JSON.parse(body) as { error?: Record<string, unknown> };
    const e = j.error;
    return (
      !!e &&
      Object.keys(j).length === 1 &&
      typeof e.message === "string" &&
      typeof e.type === "string" &&
      "param" in e &&
      (e.code === null || typeof e.code === "string")
    );
  } catch {
    return false;
  }
}
