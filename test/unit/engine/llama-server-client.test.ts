import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ServerClient, ServerHttpError } from "../../../src/engine/llama-server/client.js";

/** An HTTP server on a Unix socket standing in for llama-server. */
async function withServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  run: (client: ServerClient) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "bulwark-client-"));
  const socketPath = join(dir, "s.sock");
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  const client = new ServerClient(socketPath, "secret", 4);
  try {
    await run(client);
  } finally {
    client.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  }
}

test("llama-server client: the API key goes with every call; errors keep their envelope", async () => {
  await withServer(
    (req, res) => {
      if (req.headers.authorization !== "Bearer secret") {
        res.writeHead(401).end();
        return;
      }
      if (req.url === "/bad") {
        res.writeHead(400, { "content-type": "application/json" });
        res.end(
          JSON.stringify({ error: { code: 400, message: "nope", type: "invalid_request_error" } }),
        );
        return;
      }
      res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
    },
    async (client) => {
      assert.deepEqual(await client.json("GET", "/health", undefined, 1000), { ok: true });
      await assert.rejects(
        client.json("POST", "/bad", {}, 1000),
        (err: unknown) =>
          err instanceof ServerHttpError && err.status === 400 && err.message === "nope",
      );
    },
  );
});

test("llama-server client: a pooled connection the server closed is retried once on a new one", async () => {
  let calls = 0;
  await withServer(
    (req, res) => {
      calls++;
      // The second call arrives on the kept-alive socket: drop it without an answer.
      if (calls === 2) {
        req.socket.destroy();
        return;
      }
      res.writeHead(200, { "content-type": "application/json" }).end(`{"n":${calls}}`);
    },
    async (client) => {
      assert.deepEqual(await client.json("GET", "/a", undefined, 1000), { n: 1 });
      assert.deepEqual(await client.json("GET", "/b", undefined, 1000), { n: 3 });
    },
  );
});

test("llama-server client: a call that takes too long fails at its deadline", async () => {
  await withServer(
    () => undefined, // never answers
    async (client) => {
      await assert.rejects(client.json("GET", "/slow", undefined, 50), /took longer than 50 ms/);
    },
  );
});

test("llama-server client: a stream asks for its own connection, closed after it", async () => {
  await withServer(
    (req, res) => {
      assert.equal(req.headers.connection, "close");
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.end('data: {"content":"a"}\n\n');
    },
    async (client) => {
      const body = await new Promise<string>((resolve, reject) => {
        client.stream(
          "/completion",
          { prompt: [1] },
          {
            onResponse: (res) => {
              let text = "";
              res.on("data", (c: Buffer) => (text += c.toString()));
              res.on("end", () => resolve(text));
            },
            onError: reject,
          },
        );
      });
      assert.equal(body, 'data: {"content":"a"}\n\n');
    },
  );
});
