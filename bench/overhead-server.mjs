#!/usr/bin/env node
// One server for bench/overhead.mjs, in its own process so that the load generator does not
// share its event loop:
//   --kind gateway: Bulwark's gateway (src/main.ts startServer) on the fake engine, which
//                   answers at once: all the latency it shows is the gateway's own;
//   --kind bare:    a bare node:http server that answers the same JSON: the floor that Node,
//                   the loopback and the client cost without any gateway.
// Prints the URL on stdout once it listens. Run `npm run build` first.
import http from "node:http";
import { parseArgs } from "node:util";
import { Writable } from "node:stream";

const { values } = parseArgs({
  options: {
    kind: { type: "string", default: "gateway" },
    slots: { type: "string", default: "64" },
  },
});

if (values.kind === "bare") {
  const body = JSON.stringify({
    id: "cmpl-1",
    object: "text_completion",
    created: 0,
    model: "fake",
    choices: [{ index: 0, text: "Bulwark ", logprobs: null, finish_reason: "length" }],
    usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
  });
  const server = http.createServer((req, res) => {
    let size = 0;
    req.on("data", (d) => (size += d.length));
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json", "content-length": body.length });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, "127.0.0.1", () => console.log(`http://127.0.0.1:${server.address().port}`));
} else {
  const { loadConfig } = await import("../dist/src/config/index.js");
  const { startServer } = await import("../dist/src/main.js");
  const { createLogger } = await import("../dist/src/observability/index.js");
  const { FakeReplica } = await import("../dist/src/engine/fake/fake-replica.js");
  const controls = { tokenDelayMs: 0, firstTokenDelayMs: 0, failureRate: 0 };
  const { mkdtempSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const config = loadConfig({
    env: {},
    overrides: {
      // A throwaway home, and the protections off (no auth, no per-IP limit, no auto-ban): this
      // measures the bare gateway; a run with them on needs a key store and is not built yet.
      home: mkdtempSync(join(tmpdir(), "bulwark-overhead-")),
      security: { auth: false },
      rateLimits: { ipRpm: 0 },
      server: { port: 0, adminPort: 0 },
      log: { level: "info" },
      models: [{ name: "fake", path: "/models/fake.gguf" }],
      engine: { slots: Number(values.slots) },
    },
  });
  // The access log is written as in production, to a sink instead of a terminal.
  const sink = new Writable({ write: (_c, _e, done) => done() });
  const logger = createLogger({ level: config.log.level, destination: sink });
  const server = await startServer(config, {
    logger,
    replicaFactory: (spec) => new FakeReplica(spec, controls),
  });
  for (let i = 0; i < 200; i++) {
    const res = await fetch(`${server.url}/readyz`).catch(() => undefined);
    if (res?.ok) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  console.log(server.url);
  process.on("SIGTERM", () => server.close().then(() => process.exit(0)));
}
