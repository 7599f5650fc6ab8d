import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { fakeEngine, startTestServer } from "../helpers/server.js";

function listen(server: Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve((server.address() as { port: number }).port));
  });
}

const close = (server: Server) => new Promise<void>((r) => server.close(() => r()));

test("a start that fails halfway closes what it opened: workers stopped, API port free", async () => {
  // The admin port is taken, so the start fails after the API listens and the models start.
  const taken = createServer();
  const adminPort = await listen(taken);
  const probe = createServer();
  const apiPort = await listen(probe);
  await close(probe);
  const engine = fakeEngine();
  try {
    await assert.rejects(
      startTestServer(
        {
          models: [{ name: "fake", path: "/models/fake.gguf", replicas: 2 }],
          server: { port: apiPort, adminPort },
          // Without load admission in between, the engine's own replicas are the ones started.
          guards: { enabled: false },
        },
        { replicaFactory: engine.factory },
      ),
      /EADDRINUSE/,
    );
    assert.ok(engine.replicas.length > 0, "the models had started");
    for (const r of engine.replicas) assert.equal(r.state(), "stopped");
    // The API's listener was closed: its port can be taken again.
    const again = createServer();
    assert.equal(await listen(again, apiPort), apiPort);
    await close(again);
  } finally {
    await close(taken);
  }
});
