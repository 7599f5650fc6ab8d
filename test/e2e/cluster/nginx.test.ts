/**
 * Three gateway processes behind nginx with the shipped deploy/nginx/bulwark.conf, sharing one
 * Redis, all started by the test on free 127.0.0.1 ports: streams pass through unbuffered, the
 * client's address reaches Bulwark through X-Forwarded-For, and a gateway killed with SIGKILL
 * under load costs only the requests that were running on it (bench/cluster.mjs runs the
 * 3-minute version with a kill every 20 s).
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
import { postJson } from "../../helpers/server.js";
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
    // with it (a POST it had sent there is never sent again: it may have started).
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

test("nginx sends a request again only when no gateway got it: never a POST one may have started, and never files or batches elsewhere", () => {
  // The config the tests run, comments stripped: each location's pattern and retry policy.
  const config = nginxSiteConfig(8000, [8080, 8090, 8100]).replace(/#[^\n]*/g, "");
  assert.doesNotMatch(
    config,
    /non_idempotent/,
    "a POST a gateway may have started is never resent",
  );
  assert.doesNotMatch(
    config,
    /proxy_next_upstream\s[^;]*\b(timeout|http_5\d\d)\b/,
    "no resend on a timeout or a 5xx",
  );
  const locations = [...config.matchAll(/^ {4}location ([^{]+)\{([^}]*)\}/gm)].map((m) => ({
    pattern: m[1]!.trim(),
    policy: /^\s*proxy_next_upstream ([^;]+);/m.exec(m[2]!)?.[1],
  }));
  const batches = locations.find((l) => l.pattern.startsWith("~"));
  assert.ok(batches && new RegExp(batches.pattern.replace(/^~\s*/, "")).test("/v1/batches"));
  assert.equal(batches.policy, "off", "files and batches stay on their one gateway");
  assert.equal(locations.find((l) => l.pattern === "/")?.policy, "error");
});
