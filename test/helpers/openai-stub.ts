/**
 * A small OpenAI-compatible server for tests, standing for vLLM: /v1/models, and streamed
 * /v1/chat/completions and /v1/completions with a fixed answer and a usage chunk. Its `mode`
 * makes it misbehave: answer garbage, a 500, a 400 about the context, or die mid-stream.
 */
import { createServer as createHttp, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttps, type ServerOptions } from "node:https";
import type { AddressInfo } from "node:net";

export type StubMode = "ok" | "garbage" | "error500" | "context" | "cut";

export interface OpenAiStub {
  url: string;
  mode: StubMode;
  /** Generation requests received, with their parsed bodies. */
  requests: Record<string, unknown>[];
  /** Authorization headers seen. */
  authorizations: (string | undefined)[];
  close(): Promise<void>;
}

const ANSWER = ["Hello", " from", " the", " stub"];

export async function startOpenAiStub(tls?: ServerOptions): Promise<OpenAiStub> {
  const stub: OpenAiStub = {
    url: "",
    mode: "ok",
    requests: [],
    authorizations: [],
    close: async () => undefined,
  };
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    stub.authorizations.push(req.headers.authorization);
    if (req.method === "GET" && req.url === "/v1/models") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ object: "list", data: [{ id: "stub-model", object: "model" }] }));
      return;
    }
    let raw = "";
    req.on("data", (d) => (raw += d));
    req.on("end", () => {
      const body = JSON.parse(raw || "{}") as Record<string, unknown>;
      stub.requests.push(body);
      const chat = req.url === "/v1/chat/completions";
      switch (stub.mode) {
        case "garbage":
          res.writeHead(200, { "content-type": "text/event-stream" });
          res.end("<html>Traceback (most recent call last): /srv/vllm/engine.py</html>\n");
          return;
        case "error500":
          res.writeHead(500, { "content-type": "application/json" });
          res.end(JSON.stringify({ error: { message: "CUDA error at /srv/vllm/worker.py:12" } }));
          return;
        case "context":
          res.writeHead(400, { "content-type": "application/json" });
          res.end(
            JSON.stringify({
              error: { message: "This model's maximum context length is 2048 tokens." },
            }),
          );
          return;
        default:
      }
      res.writeHead(200, { "content-type": "text/event-stream" });
      const piece = (text: string, finish: string | null) =>
        `data: ${JSON.stringify({
          object: chat ? "chat.completion.chunk" : "text_completion",
          choices: [
            chat
              ? { index: 0, delta: { content: text }, finish_reason: finish }
              : { index: 0, text, finish_reason: finish },
          ],
        })}\n\n`;
      if (stub.mode === "cut") {
        res.write(piece(ANSWER[0]!, null));
        setTimeout(() => res.socket?.destroy(), 50);
        return;
      }
      ANSWER.forEach((t, i) => res.write(piece(t, i === ANSWER.length - 1 ? "stop" : null)));
      res.write(
        `data: ${JSON.stringify({
          choices: [],
          usage: {
            prompt_tokens: 11,
            completion_tokens: ANSWER.length,
            total_tokens: 11 + ANSWER.length,
            prompt_tokens_details: { cached_tokens: 3 },
          },
        })}\n\ndata: [DONE]\n\n`,
      );
      res.end();
    });
  };
  const server = tls ? createHttps(tls, handler) : createHttp(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  stub.url = `${tls ? "https" : "http"}://127.0.0.1:${port}/v1`;
  stub.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return stub;
}

export const STUB_ANSWER = ANSWER.join("");
