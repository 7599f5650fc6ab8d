/**
 * Connection semantics over real sockets: a streamed response never overrides what Node's HTTP
 * server decided about keeping the connection, and bytes that are not HTTP get an answer in
 * OpenAI's error shape.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Agent, request, type IncomingHttpHeaders } from "node:http";
import { connect } from "node:net";
import { fakeEngine, startTestServer, type TestServer } from "../helpers/server.js";
import { parseSse } from "../helpers/sse.js";

let server: TestServer;

before(async () => {
  const engine = fakeEngine();
  server = await startTestServer(
    { models: [{ name: "fake", path: "/models/fake.gguf" }] },
    { replicaFactory: engine.factory },
  );
});
after(() => server.close());

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  reusedSocket: boolean;
}

function post(agent: Agent, path: string, body: unknown, headers: Record<string, string>) {
  const payload = JSON.stringify(body);
  const url = new URL(path, server.url);
  return new Promise<Answer>((resolve, reject) => {
    const req = request(
      url,
      {
        agent,
        method: "POST",
        headers: {
          "content-type": "application/json",
          "content-length": String(Buffer.byteLength(payload)),
          ...headers,
        },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: text,
            reusedSocket: req.reusedSocket,
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

const completion = (stream: boolean) => ({
  model: "fake",
  prompt: "hello",
  max_tokens: 4,
  stream,
});

test("Connection: close on a keep-alive agent: streamed and plain requests alternate, all succeed", async () => {
  // One socket at a time, kept alive by the agent: a response that wrongly promises keep-alive
  // makes the agent reuse a socket the server has closed, and the next request fails.
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const answers: Answer[] = [];
    for (let i = 0; i < 8; i += 1) {
      const stream = i % 2 === 0;
      answers.push(
        await post(agent, "/v1/completions", completion(stream), { connection: "close" }),
      );
    }
    assert.deepEqual(
      answers.map((answer) => answer.status),
      answers.map(() => 200),
      answers.map((answer) => answer.body).join("\n"),
    );
    answers.forEach((answer, i) => {
      const stream = i % 2 === 0;
      if (stream) assert.equal(parseSse(answer.body).at(-1), "[DONE]");
      else assert.equal(JSON.parse(answer.body).object, "text_completion");
      assert.equal(answer.headers.connection, "close", `request ${i} (stream ${stream})`);
    });
  } finally {
    agent.destroy();
  }
});

test("without Connection: close a streamed response keeps the connection for the next request", async () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const first = await post(agent, "/v1/completions", completion(true), {});
    assert.equal(first.status, 200);
    assert.equal(first.headers.connection, "keep-alive");
    const second = await post(agent, "/v1/completions", completion(false), {});
    assert.equal(second.status, 200);
    assert.equal(second.reusedSocket, true);
  } finally {
    agent.destroy();
  }
});

/** Writes raw bytes to the server and returns everything it answers until it closes. */
function rawExchange(bytes: string): Promise<string> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => socket.write(bytes));
    let text = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (text += chunk));
    socket.on("close", () => resolve(text));
    socket.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ECONNRESET") resolve(text);
      else reject(err);
    });
  });
}

function parseRaw(text: string): { status: number; headers: string; body: any } {
  const split = text.indexOf("\r\n\r\n");
  assert.ok(split > 0, `no HTTP response in ${JSON.stringify(text)}`);
  const head = text.slice(0, split);
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
  return { status, headers: head.toLowerCase(), body: JSON.parse(text.slice(split + 4)) };
}

test("a request that is not valid HTTP gets 400 bad_http_request in OpenAI's shape", async () => {
  const answer = parseRaw(await rawExchange("THIS IS NOT HTTP\r\n\r\n"));
  assert.equal(answer.status, 400);
  assert.match(answer.headers, /content-type: application\/json/);
  assert.match(answer.headers, /connection: close/);
  assert.equal(answer.body.error.code, "bad_http_request");
  assert.equal(answer.body.error.type, "invalid_request_error");
  assert.equal(answer.body.error.param, null);
  assert.equal(typeof answer.body.error.message, "string");
});

test("bytes after a Connection: close request get bad_http_request, not Fastify's bare 400", async () => {
  // Node's parser refuses anything after a request that asked to close; when the bytes arrive in
  // the same packet no response has started yet, so the refusal is what the client reads.
  const raw =
    "GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" +
    "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n";
  const answer = parseRaw(await rawExchange(raw));
  assert.equal(answer.status, 400);
  assert.equal(answer.body.error.code, "bad_http_request");
  assert.equal(answer.body.error.type, "invalid_request_error");
});

test("headers over Node's limit get 431 headers_too_large in OpenAI's shape", async () => {
  const big = "x".repeat(20 * 1024);
  const answer = parseRaw(
    await rawExchange(`GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: ${big}\r\n\r\n`),
  );
  assert.equal(answer.status, 431);
  assert.equal(answer.body.error.code, "headers_too_large");
  assert.equal(answer.body.error.type, "invalid_request_error");
});

test("a URL Fastify cannot decode gets 400 invalid_request in OpenAI's shape", async () => {
  const answer = parseRaw(
    await rawExchange("GET /v1/models/%E0%A4%A HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
  );
  assert.equal(answer.status, 400);
  assert.equal(answer.body.error.type, "invalid_request_error");
  assert.equal(typeof answer.body.error.code, "string");
});
