/**
 * A unique canary string sent through every path that carries prompt or output text must not
 * be found in any file under BULWARK_HOME afterwards: logs, stores, audit, usage; nor, with
 * state.backend redis and a data key, in a dump of the fleet's Redis, where the response
 * cache's shared tier seals every value (src/crypto); with a data key, batch input and result
 * files too.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inflateRawSync } from "node:zlib";
import { Redis } from "ioredis";
import { call, chatBody, MODEL, startSecureServer } from "../helpers/access.js";
import { generateKey } from "../../src/auth/index.js";
import { Keyring, isSealed } from "../../src/crypto/index.js";
import { api, chatLine, jsonl, upload, waitForBatch } from "../helpers/batch.js";
import { redisMissing, startRedis } from "../helpers/redis.js";
import { fakeEngine, startTestServer } from "../helpers/server.js";

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

test("a canary sent through every text path is in no file under BULWARK_HOME", async (t) => {
  // A home of the test's own: the server's would be removed when it closes.
  const home = mkdtempSync(join(tmpdir(), "bulwark-canary-"));
  const s = await startSecureServer({ home });
  let closed = false;
  t.after(async () => {
    if (!closed) await s.close();
    if (!process.env.KEEP_CANARY_HOME) rmSync(home, { recursive: true, force: true });
  });
  const canary = `canary${randomBytes(8).toString("hex")}`;
  const email = `${canary}@example.com`;
  const keys = await Promise.all(
    ["none", "prompt", "prompt+output", "reversible"].map((mask) =>
      s.createKey({ name: `k-${mask.replace("+", "-")}`, role: "user", mask }),
    ),
  );
  const url = (p: string) => `${s.server.url}${p}`;
  for (const k of keys) {
    for (const text of [canary, `write to ${email} please`]) {
      const paths: [string, unknown][] = [
        ["/v1/chat/completions", chatBody(text)],
        ["/v1/chat/completions", chatBody(text, { stream: true })],
        ["/v1/completions", { model: MODEL, prompt: text, max_tokens: 4 }],
        ["/v1/embeddings", { model: MODEL, input: text }],
        ["/tokenize", { model: MODEL, content: text }],
      ];
      for (const [path, body] of paths) {
        const res = await call(url(path), k.key, "POST", body);
        assert.ok(res.status < 500, `${path}: ${res.status}`);
      }
    }
  }
  // Errors carrying the text (an unknown model named after it) are logged and audited too.
  await call(url("/v1/chat/completions"), keys[0]!.key, "POST", {
    ...chatBody(canary),
    model: canary,
  });
  await s.close();
  closed = true;
  const files = filesUnder(home);
  assert.ok(
    files.some((f) => f.endsWith("bulwark.db")) && files.some((f) => /access\.log/.test(f)),
    files.join(","),
  );
  const hits = files.filter((f) => readFileSync(f).includes(canary));
  assert.deepEqual(hits, [], "the canary is stored in clear");
});

const missingRedis = redisMissing();

test(
  "with a data key, a canary cached in the fleet's Redis is in no dump of it (SAVE) nor under BULWARK_HOME",
  { skip: missingRedis },
  async (t) => {
    // No LZF in the dump: a value stored in clear would be found as it is.
    const redis = await startRedis(["--rdbcompression", "no"]);
    const home = mkdtempSync(join(tmpdir(), "bulwark-canary-redis-"));
    const model = join(home, "fake.gguf");
    writeFileSync(model, "stand-in for a model file (the cache hashes it)");
    const keyring = Keyring.fromEnv({ BULWARK_DATA_KEY: randomBytes(32).toString("hex") })!;
    const adminKey = generateKey().full;
    const server = await startTestServer(
      {
        home,
        models: [{ name: MODEL, path: model }],
        state: { backend: "redis", redisUrl: redis.url, commandTimeoutMs: 1_000 },
      },
      { replicaFactory: fakeEngine().factory, auth: true, adminKey, keyring },
    );
    const client = new Redis(redis.url);
    let closed = false;
    t.after(async () => {
      client.disconnect();
      if (!closed) await server.close();
      await redis.close();
      rmSync(home, { recursive: true, force: true });
    });
    const made = await call(`${server.adminUrl}/admin/keys`, adminKey, "POST", {
      name: "canary",
      role: "user",
    });
    const canary = `canary${randomBytes(8).toString("hex")}`;
    const paths: [string, unknown][] = [
      ["/v1/chat/completions", chatBody(`say ${canary}`, { temperature: 0 })],
      ["/v1/completions", { model: MODEL, prompt: `say ${canary}`, max_tokens: 4, temperature: 0 }],
      ["/v1/embeddings", { model: MODEL, input: `say ${canary}` }],
    ];
    for (const [path, body] of paths) {
      // The first one misses and stores; the model's digest may still be computed at first.
      let stored = false;
      for (let i = 0; i < 50 && !stored; i++) {
        const res = await call(`${server.url}${path}`, made.json.key, "POST", body);
        assert.equal(res.status, 200, `${path}: ${res.text}`);
        stored = res.headers.get("x-bulwark-cache") === "miss";
        if (!stored) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(stored, `${path} was stored`);
    }
    // Every value the tier stored is sealed with the data key, bound to its entry, and opens
    // to a cached answer. (Compression alone would hide a canary from a search of the dump;
    // the seal is what keeps it from anyone who reads Redis.)
    // The shared tier is written after the answer went out.
    let entries: string[] = [];
    for (let i = 0; i < 50 && entries.length < paths.length; i++) {
      await new Promise((r) => setTimeout(r, 100));
      entries = await client.keys("*rcache:*");
    }
    assert.ok(entries.length >= paths.length, entries.join(","));
    const kinds = new Set<string>();
    for (const name of entries) {
      const raw = (await client.getBuffer(name))!;
      assert.ok(isSealed(raw), `${name} is sealed`);
      assert.equal(keyring.keyIdOf(raw), keyring.current.id);
      assert.throws(() => keyring.open(raw, "rcache:elsewhere"), /sealed_value_invalid|altered/);
      const plain = inflateRawSync(keyring.open(raw, name.slice(name.indexOf("rcache:"))));
      kinds.add((JSON.parse(plain.toString("utf8")) as { kind: string }).kind);
    }
    assert.deepEqual([...kinds].sort(), ["embeddings", "generation"]);
    // A batch whose input line and result carry the canary: its files, its ledger rows and its
    // usage are under the same home.
    const input = await upload(
      server.url,
      jsonl([chatLine("canary-line", `say ${canary}`, MODEL)]),
      made.json.key,
    );
    assert.equal(input.status, 200, input.text);
    const batch = await api(server.url, "POST", "/v1/batches", made.json.key, {
      input_file_id: input.json.id,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    });
    assert.equal(batch.status, 200, batch.text);
    const done = await waitForBatch(server.url, batch.json.id, ["completed"], made.json.key);
    const output = await api(
      server.url,
      "GET",
      `/v1/files/${done.output_file_id}/content`,
      made.json.key,
    );
    assert.match(output.text, /canary-line/);
    assert.equal(await client.call("SAVE"), "OK");
    const dump = readFileSync(join(redis.dir, "dump.rdb"));
    assert.ok(dump.length > 0);
    assert.equal(dump.includes(canary), false, "the canary is in Redis's dump in clear");
    await server.close();
    closed = true;
    const hits = filesUnder(home).filter((f) => readFileSync(f).includes(canary));
    assert.deepEqual(hits, [], "the canary is stored in clear under BULWARK_HOME");
  },
);
