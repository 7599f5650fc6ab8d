/**
 * Three gateway processes behind nginx with the shipped deploy/nginx/bulwark.conf, sharing one
 * Redis, all started by the test on free 127.0.0.1 ports: streams pass through unbuffered, the
 * client's address reaches Bulwark through X-Forwarded-For, and a gateway killed with SIGKILL
 * under load costs only the requests that were running on it (bench/cluster.mjs runs the
 * 3-minute version with a kill every 20 s), and a plain generation running on a gateway that
 * dies is answered by another one, while nothing else is ever sent twice.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, redisMissing, startRedis, type TestRedis } from "../../helpers/redis.js";
import {
  nginxMissing,
  nginxSiteConfig,
  spawnGateway,
  startNginx,
  type GatewayProcess,
  type TestNginx,
} from "../../helpers/nginx.js";
import { postJson, waitFor } from "../../helpers/server.js";
import { generateKey } from "../../../src/auth/index.js";

const missing = redisMissing() ?? nginxMissing();
let redis: TestRedis;
let nginx: TestNginx;
const ports: number[] = [];
const homes: string[] = [];
const gateways: GatewayProcess[] = [];
const adminKey = generateKey().full;

const gatewayConfig = (i: number) => ({
  home: homes[i],
  server: { port: ports[i], adminPort: 0 },
  security: { auth: false, trustedProxies: ["127.0.0.1/32"] },
  rateLimits: { ipRpm: 0 },
  state: { backend: "redis", redisUrl: redis.url, commandTimeoutMs: 1_000 },
  instance: { id: `gw${i + 1}` },
  models: [{ name: "fake", path: "/models/fake.gguf", slots: 8 }],
});

before(async () => {
  if (missing) return;
  redis = await startRedis();
  for (let i = 0; i < 3; i++) {
    ports.push(await freePort());
    homes.push(mkdtempSync(join(tmpdir(), `bulwark-gw${i + 1}-`)));
    gateways.push(await spawnGateway(gatewayConfig(i), { adminKey }));
  }
  nginx = await startNginx(await freePort(), ports);
});

after(async () => {
  await nginx?.close();
  await Promise.all(gateways.map((g) => g.stop()));
  await redis?.close();
  for (const h of homes) rmSync(h, { recursive: true, force: true });
});

const body = (extra: Record<string, unknown> = {}) => ({
  model: "fake",
  prompt: "hello",
  max_tokens: 4,
  ...extra,
});

test(
  "a stream passes through nginx, and the client's address comes from X-Forwarded-For",
  { skip: missing },
  async () => {
    const stream = await postJson(`${nginx.url}/v1/completions`, body({ stream: true }));
    assert.equal(stream.status, 200, stream.text);
    assert.match(stream.headers.get("content-type") ?? "", /text\/event-stream/);
    assert.match(stream.text, /data: \[DONE\]/);
    // A ban on one gateway for the address the client claims through nginx: every gateway
    // behind nginx refuses it, so nginx passed the address and Bulwark believed its proxy.
    const ban = await postJson(
      `${gateways[0]!.adminUrl}/admin/bans`,
      { ip: "203.0.113.9", durationMs: 60_000 },
      { authorization: `Bearer ${adminKey}` },
    );
    assert.equal(ban.status, 201, ban.text);
    await new Promise((r) => setTimeout(r, 1_000));
    for (let i = 0; i < 6; i++) {
      const r = await postJson(`${nginx.url}/v1/completions`, body(), {
        "x-forwarded-for": "203.0.113.9",
      });
      assert.equal(r.status, 403, r.text);
      assert.equal(r.json.error.code, "ip_banned");
    }
    const other = await postJson(`${nginx.url}/v1/completions`, body(), {
      "x-forwarded-for": "203.0.113.10",
    });
    assert.equal(other.status, 200, other.text);
  },
);

test(
  "a gateway killed with SIGKILL under load at concurrency 8: only requests running on it fail",
  { skip: missing },
  async () => {
    interface Outcome {
      start: number;
      end: number;
      status: number;
    }
    const outcomes: Outcome[] = [];
    const logFrom = nginx.log().length;
    const runUntil = Date.now() + 12_000;
    let killedAt = 0;
    const worker = async () => {
      while (Date.now() < runUntil) {
        const start = Date.now();
        const status = await fetch(`${nginx.url}/v1/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body()),
        })
          .then(async (r) => {
            await r.text();
            return r.status;
          })
          .catch(() => 0);
        outcomes.push({ start, end: Date.now(), status });
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, worker));
    await new Promise((r) => setTimeout(r, 4_000));
    killedAt = Date.now();
    await gateways[1]!.kill();
    gateways[1] = await spawnGateway(gatewayConfig(1), { adminKey }); // the node comes back
    await load;
    const failed = outcomes.filter((o) => o.status !== 200);
    const ok = outcomes.length - failed.length;
    assert.ok(outcomes.length >= 100, `${outcomes.length} requests`);
    for (const f of failed) {
      assert.equal(f.status, 502);
      assert.ok(f.end >= killedAt, "nothing failed before the kill");
    }
    // nginx's own log says where each failed request was: on the killed gateway, which died
    // with it (a plain generation running there is sent to another gateway, so usually none).
    const killed = `127.0.0.1:${ports[1]}`;
    const bad = nginx
      .log()
      .slice(logFrom)
      .filter((l) => l.status !== 200);
    assert.equal(bad.length, failed.length);
    for (const l of bad) assert.equal(l.upstreams.at(-1), killed, JSON.stringify(l));
    // At concurrency 8, at most one request per client was in flight on it.
    assert.ok(failed.length <= 8, `${failed.length} failed of ${outcomes.length}`);
    assert.ok(ok / outcomes.length >= 0.99, `${ok} of ${outcomes.length} succeeded`);
    console.log(`nginx kill test: ${ok}/${outcomes.length} succeeded, ${failed.length} failed`);
  },
);

test(
  "a plain generation running on a gateway that is SIGKILLed is answered by another, once",
  { skip: missing },
  async () => {
    // Two slow gateways of their own (10 ms a token, 150 tokens: 1.5 s at least a request)
    // behind a second nginx, so that the kill lands while the requests are running.
    const slowPorts = [await freePort(), await freePort()];
    const slowHomes = slowPorts.map((_, i) => mkdtempSync(join(tmpdir(), `bulwark-slow${i}-`)));
    const slow: GatewayProcess[] = [];
    let front: TestNginx | undefined;
    try {
      for (let i = 0; i < 2; i++) {
        const config = {
          ...gatewayConfig(0),
          home: slowHomes[i],
          server: { port: slowPorts[i], adminPort: 0 },
          instance: { id: `slow${i + 1}` },
        };
        slow.push(await spawnGateway(config, { adminKey, tokenDelayMs: 10 }));
      }
      front = await startNginx(await freePort(), slowPorts);
      const url = front.url;
      // Four at once: round robin puts two on each gateway.
      const answers = Promise.all(
        Array.from({ length: 4 }, () =>
          postJson(`${url}/v1/completions`, body({ max_tokens: 150 })),
        ),
      );
      await new Promise((r) => setTimeout(r, 700));
      await slow[0]!.kill();
      for (const a of await answers) {
        assert.equal(a.status, 200, a.text);
        assert.equal(a.json.choices[0].finish_reason, "length");
        assert.equal(a.json.usage.completion_tokens, 150);
      }
      const killed = `127.0.0.1:${slowPorts[0]}`;
      const other = `127.0.0.1:${slowPorts[1]}`;
      const ours = () => front!.log().filter((l) => l.uri === "/v1/completions");
      await waitFor(() => ours().length >= 4, 5_000);
      const log = ours();
      assert.equal(log.length, 4, JSON.stringify(log));
      const resent = log.filter((l) => l.upstreams.length > 1);
      assert.ok(resent.length >= 1, JSON.stringify(log));
      // Each was sent once more, to the gateway that lived, and answered there.
      for (const l of resent) assert.deepEqual(l.upstreams, [killed, other], JSON.stringify(l));
      for (const l of log) assert.equal(l.status, 200);
    } finally {
      await front?.close();
      await Promise.all(slow.map((g) => g.stop()));
      for (const h of slowHomes) rmSync(h, { recursive: true, force: true });
    }
  },
);

test(
  "only generations and embeddings are ever sent again: never files, batches or anything else",
  { skip: missing },
  () => {
    // The config these tests run: each location's pattern and its retry policy.
    const config = nginxSiteConfig(8000, [8080, 8090, 8100]).replace(/#[^\n]*/g, "");
    const locations = [...config.matchAll(/^ {4}location ([^{]+)\{([^}]*)\}/gm)].map((m) => ({
      pattern: m[1]!.trim(),
      body: m[2]!,
    }));
    assert.equal(locations.length, 3, config);
    const resending = locations.filter((l) => /non_idempotent/.test(l.body));
    assert.equal(resending.length, 1, "non_idempotent in one location only");
    const match = (pattern: string, path: string) =>
      pattern.startsWith("~")
        ? new RegExp(pattern.replace(/^~\s*/, "")).test(path)
        : path.startsWith(pattern);
    // nginx takes the first regular expression that matches, before the prefix "/".
    const policyOf = (path: string) => {
      const regex = locations.find((l) => l.pattern.startsWith("~") && match(l.pattern, path));
      const l = regex ?? locations.find((l) => match(l.pattern, path))!;
      return /^\s*proxy_next_upstream ([^;]+);/m.exec(l.body)?.[1];
    };
    for (const path of ["/v1/chat/completions", "/v1/completions", "/v1/embeddings"]) {
      assert.equal(policyOf(path), "error non_idempotent", path);
    }
    for (const path of [
      "/v1/files",
      "/v1/files/file-1/content",
      "/v1/batches",
      "/v1/batches/b/cancel",
    ]) {
      assert.equal(policyOf(path), "off", path);
    }
    for (const path of ["/admin/keys", "/tokenize", "/v1/models", "/v1/chat/completions/x"]) {
      assert.equal(policyOf(path), "error", path);
    }
  },
);
