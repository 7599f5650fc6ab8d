/**
 * Connection semantics over real sockets: a streamed response never overrides what Node's HTTP
 * server decided about keeping the connection.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Agent, request, type IncomingHttpHeaders } from "node:http";
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
