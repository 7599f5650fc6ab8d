/**
 * Three gateways sharing one real redis-server (started by the test on a free port): one
 * key's requests and tokens per minute hold for the fleet, not per instance; a key made, a ban
 * added or a key revoked on one instance is in force on the others within a second.
 */
import { after, before, test } from "node:test";
import { spawnSync } from "node:child_process";
import { Redis } from "ioredis";
import { join } from "node:path";
import assert from "node:assert/strict";
import { call, chatBody } from "../../helpers/access.js";
import { startFleet, type Fleet } from "../../helpers/cluster.js";
import { redisMissing, startRedis, type TestRedis } from "../../helpers/redis.js";
import { waitFor } from "../../helpers/server.js";
import { repoRoot } from "../../helpers/paths.js";

const missing = redisMissing();
let redis: TestRedis;
let fleet: Fleet;

before(async () => {
  if (missing) return;
  redis = await startRedis();
  fleet = await startFleet(3, redis.url, {
    security: { trustedProxies: ["127.0.0.1/32"] },
    // A loaded test machine must not trip the breaker on a slow reply.
    state: { commandTimeoutMs: 1_000 },
  });
});
after(async () => {
  await fleet?.close();
  await redis?.close();
});

const url = (i: number, path: string) => `${fleet.servers[i]!.url}${path}`;

/**
 * Waits until every server accepts `key` (made on one of them); returns how many requests were
 * admitted on the way (each counts against the key's requests per minute; a refused one, 401
 * before the key arrived, does not).
 */
async function everywhere(key: string): Promise<number> {
  let admitted = 0;
  for (let i = 0; i < 3; i++) {
    const ok = await waitFor(async () => {
      const status = (await call(url(i, "/v1/models"), key)).status;
      if (status === 200) admitted++;
      return status === 200;
    }, 1_000);
    assert.ok(ok, `the key reached server ${i} within 1 s`);
  }
  return admitted;
}

test(
  "rpm 60 from three gateways at once admits 60 plus what the clock frees, not 180",
  { skip: missing },
  async () => {
    const { key } = await fleet.createKey(0, { name: "rpm", role: "user", rpm: 60 });
    const probes = await everywhere(key);
    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: 240 }, (_, n) =>
        call(url(n % 3, "/v1/chat/completions"), key, "POST", chatBody()),
      ),
    );
    const elapsedMs = Date.now() - started;
    // The probes that saw the key arrive were admitted too.
    const ok = results.filter((r) => r.status === 200).length + probes;
    const refused = results.filter((r) => r.status === 429);
    assert.equal(
      ok - probes + refused.length,
      240,
      JSON.stringify(results.find((r) => r.status >= 500)?.json),
    );
    // GCRA at 60/min: a burst of 60, then one more per second of the run.
    assert.ok(ok >= 60, `admitted ${ok}`);
    assert.ok(ok <= 60 + Math.ceil(elapsedMs / 1000), `admitted ${ok} in ${elapsedMs} ms`);
    for (const r of refused) assert.equal(r.json.error.code, "rate_limit_exceeded");
  },
);

test("tpm from three gateways at once holds for the fleet", { skip: missing }, async () => {
  // 12 tokens per request (3 prompt + max_tokens 9, all reserved); 600 per minute: 50 requests.
  const { key } = await fleet.createKey(1, { name: "tpm", role: "user", tpm: 600 });
  await everywhere(key);
  const body = { model: "fake", prompt: [40, 41, 42], max_tokens: 9, ignore_eos: true };
  const started = Date.now();
  const results = await Promise.all(
    Array.from({ length: 150 }, (_, n) => call(url(n % 3, "/v1/completions"), key, "POST", body)),
  );
  const elapsedMs = Date.now() - started;
  const ok = results.filter((r) => r.status === 200);
  const refused = results.filter((r) => r.status === 429);
  assert.equal(ok.length + refused.length, 150);
  for (const r of refused) assert.equal(r.json.error.code, "tokens_rate_limit_exceeded");
  // The bucket refills 10 tokens a second: one more request per 1.2 s of the run.
  assert.ok(ok.length >= 50, `admitted ${ok.length}`);
  assert.ok(
    ok.length <= 50 + Math.ceil(elapsedMs / 1200),
    `admitted ${ok.length} in ${elapsedMs} ms`,
  );
});

test(
  "a ban added on one instance refuses the address on the others within 1 s",
  { skip: missing },
  async () => {
    const { key } = await fleet.createKey(0, { name: "ban", role: "user" });
    await everywhere(key);
    const from = { "x-forwarded-for": "203.0.113.7" };
    const probe = (i: number) => call(url(i, "/v1/models"), key, "GET", undefined, from);
    assert.equal((await probe(2)).status, 200);
    const add = await call(`${fleet.servers[0]!.adminUrl}/admin/bans`, fleet.adminKey, "POST", {
      ip: "203.0.113.7",
      durationMs: 60_000,
      reason: "test",
    });
    assert.equal(add.status, 201, add.text);
    const t0 = Date.now();
    for (const i of [1, 2]) {
      assert.ok(
        await waitFor(async () => (await probe(i)).status === 403, 1_000),
        `banned on server ${i} within 1 s`,
      );
    }
    assert.ok(Date.now() - t0 <= 2_000);
    assert.equal((await probe(1)).json.error.code, "ip_banned");
    // Lifted on another instance: the address is let in everywhere again.
    const lift = await call(
      `${fleet.servers[2]!.adminUrl}/admin/bans/203.0.113.7`,
      fleet.adminKey,
      "DELETE",
    );
    assert.ok(lift.status < 300, lift.text);
    for (const i of [0, 1]) {
      assert.ok(
        await waitFor(async () => (await probe(i)).status === 200, 1_000),
        `lifted on ${i}`,
      );
    }
  },
);

test(
  "a key revoked on one instance is refused by the others within 1 s",
  { skip: missing },
  async () => {
    const { key, id } = await fleet.createKey(2, { name: "revoke", role: "user" });
    await everywhere(key);
    const res = await call(
      `${fleet.servers[0]!.adminUrl}/admin/keys/${id}/revoke`,
      fleet.adminKey,
      "POST",
    );
    assert.equal(res.status, 200, res.text);
    for (const i of [1, 2]) {
      assert.ok(
        await waitFor(async () => (await call(url(i, "/v1/models"), key)).status === 401, 1_000),
        `revoked on server ${i} within 1 s`,
      );
      assert.equal((await call(url(i, "/v1/models"), key)).json.error.code, "key_revoked");
    }
  },
);

test(
  "a key rotated on one instance: the new secret works on the others",
  { skip: missing },
  async () => {
    const { key, id } = await fleet.createKey(1, { name: "rotate", role: "user" });
    await everywhere(key);
    const res = await call(
      `${fleet.servers[1]!.adminUrl}/admin/keys/${id}/rotate`,
      fleet.adminKey,
      "POST",
    );
    assert.equal(res.status, 200, res.text);
    await everywhere(res.json.key as string);
  },
);

test(
  "a key revoked with the CLI on one gateway's home is refused by every gateway within 1 s",
  { skip: missing },
  async () => {
    const { key, id } = await fleet.createKey(0, { name: "cli-revoke", role: "user" });
    await everywhere(key);
    const run = spawnSync(
      process.execPath,
      [
        join(repoRoot(), "bin", "bulwark.js"),
        "keys",
        "revoke",
        id,
        "--home",
        fleet.servers[1]!.home,
      ],
      {
        encoding: "utf8",
        timeout: 60_000,
        env: { ...process.env, BULWARK_STATE_BACKEND: "redis", BULWARK_STATE_REDIS_URL: redis.url },
      },
    );
    assert.equal(run.status, 0, run.stderr);
    for (const i of [0, 1, 2]) {
      assert.ok(
        await waitFor(async () => (await call(url(i, "/v1/models"), key)).status === 401, 1_000),
        `revoked on server ${i} within 1 s`,
      );
    }
  },
);

test("a key's in-flight cap holds across the three gateways", { skip: missing }, async () => {
  const { key } = await fleet.createKey(0, {
    name: "concurrency",
    role: "user",
    rpm: 600,
    concurrency: 2,
  });
  await everywhere(key);
  fleet.engine.controls.tokenDelayMs = 20; // each request holds its place for ~0.4 s
  try {
    const body = { model: "fake", prompt: [40, 41, 42], max_tokens: 20, ignore_eos: true };
    const results = await Promise.all(
      Array.from({ length: 9 }, (_, n) => call(url(n % 3, "/v1/completions"), key, "POST", body)),
    );
    const ok = results.filter((r) => r.status === 200).length;
    const capped = results.filter((r) => r.json?.error?.code === "concurrency_limit_exceeded");
    assert.equal(ok, 2, results.map((r) => r.status).join(","));
    assert.equal(capped.length, 7);
  } finally {
    fleet.engine.controls.tokenDelayMs = 0;
  }
  // The places were given back: the next request passes.
  const again = await call(url(1, "/v1/completions"), key, "POST", {
    model: "fake",
    prompt: [40],
    max_tokens: 1,
  });
  assert.equal(again.status, 200, again.text);
});

test(
  "a ban record a day past its expiry leaves Redis; a ban without an end stays",
  { skip: missing },
  async () => {
    const client = new Redis(redis.url);
    try {
      const put = (ip: string, dropAfter: number | undefined) =>
        client.hset(
          "bulwark:records:ban",
          ip,
          JSON.stringify({
            kind: "ban",
            id: ip,
            rev: 1,
            origin: "elsewhere",
            dropAfter,
            data: {
              ip,
              reason: "old",
              source: "auto",
              createdAt: 1,
              expiresAt: dropAfter === undefined ? null : 2,
              offences: 1,
              liftedAt: null,
            },
          }),
        );
      await put("198.51.100.200", Date.now() - 1_000);
      await put("198.51.100.201", undefined);
      await client.incr("bulwark:records:ban:version");
      assert.ok(
        await waitFor(
          async () => (await client.hexists("bulwark:records:ban", "198.51.100.200")) === 0,
          5_000,
        ),
        "the expired record was dropped",
      );
      assert.equal(await client.hexists("bulwark:records:ban", "198.51.100.201"), 1);
    } finally {
      client.disconnect();
    }
  },
);
