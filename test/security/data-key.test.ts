/**
 * `bulwark keys rotate-data-key`: a new key file, the old key still opens, audited; and
 * `bulwark keys reseal` (or a gateway in the background) re-encrypts the response cache's Redis
 * tier with the new key, in batches, resumable, against a redis-server of the test's own, and
 * this home's batch files line by line.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../helpers/paths.js";
import { Keyring } from "../../src/crypto/index.js";
import { Redis } from "ioredis";
import { RedisCacheTier } from "../../src/cache/index.js";
import { api, chatLine, jsonl, parseJsonl, upload, waitForBatch } from "../helpers/batch.js";
import { redisMissing, startRedis } from "../helpers/redis.js";
import { fakeEngine, startTestServer, waitFor } from "../helpers/server.js";
import { generateKey } from "../../src/auth/index.js";

test("rotate-data-key writes a private new key; values sealed before still open; audited", (t) => {
  const home = mkdtempSync(join(tmpdir(), "bulwark-datakey-"));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const k1 = join(home, "k1");
  writeFileSync(k1, randomBytes(32).toString("hex"), { mode: 0o600 });
  const before = Keyring.fromEnv({ BULWARK_DATA_KEY_FILE: k1 })!;
  const sealed = before.seal("sealed before the rotation", "place");
  const k2 = join(home, "k2");
  const run = (extra: string[]) =>
    spawnSync(
      process.execPath,
      [join(repoRoot(), "bin", "bulwark.js"), "keys", "rotate-data-key", "--out", k2, ...extra],
      { encoding: "utf8", env: { ...process.env, BULWARK_HOME: home, BULWARK_DATA_KEY_FILE: k1 } },
    );
  const r = run([]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(statSync(k2).mode & 0o777, 0o600);
  assert.match(r.stdout, new RegExp(`BULWARK_DATA_KEY_PREVIOUS_FILES=${k1}`));
  const after = Keyring.fromEnv({
    BULWARK_DATA_KEY_FILE: k2,
    BULWARK_DATA_KEY_PREVIOUS_FILES: k1,
  })!;
  assert.notEqual(after.current.id, before.current.id);
  assert.equal(after.open(sealed, "place").toString(), "sealed before the rotation");
  assert.equal(after.keyIdOf(after.reseal(sealed, "place")), after.current.id);
  assert.notEqual(run([]).status, 0, "an existing file is never overwritten");
  const audit = spawnSync(
    process.execPath,
    [join(repoRoot(), "bin", "bulwark.js"), "audit", "export"],
    { encoding: "utf8", env: { ...process.env, BULWARK_HOME: home } },
  );
  assert.match(audit.stdout, /data_key\.rotated/);
});

const missingRedis = redisMissing();

/** Two key files in `home` (the one before a rotation and the new one) and a keyring of each. */
function twoKeys(home: string) {
  const oldFile = join(home, "old.key");
  const newFile = join(home, "new.key");
  writeFileSync(oldFile, randomBytes(32).toString("hex"), { mode: 0o600 });
  writeFileSync(newFile, randomBytes(32).toString("hex"), { mode: 0o600 });
  return {
    oldFile,
    newFile,
    oldRing: Keyring.fromEnv({ BULWARK_DATA_KEY_FILE: oldFile })!,
    newRing: Keyring.fromEnv({ BULWARK_DATA_KEY_FILE: newFile })!,
  };
}

/** A home with two key files (the one before a rotation and the new one) and a Redis. */
async function rotatedFleet(t: { after(fn: () => Promise<void> | void): void }, entries: number) {
  const home = mkdtempSync(join(tmpdir(), "bulwark-reseal-"));
  const redis = await startRedis();
  const client = new Redis(redis.url);
  t.after(async () => {
    client.disconnect();
    await redis.close();
    rmSync(home, { recursive: true, force: true });
  });
  const { oldFile, newFile, oldRing, newRing } = twoKeys(home);
  const both = Keyring.fromEnv({
    BULWARK_DATA_KEY_FILE: newFile,
    BULWARK_DATA_KEY_PREVIOUS_FILES: oldFile,
  })!;
  const port = {
    run: <T>(fn: (c: Redis) => Promise<T>) => fn(client),
    key: (n: string) => `bulwark:${n}`,
  };
  const tier = (keyring: Keyring) => new RedisCacheTier(port, { timeoutMs: 5_000, keyring });
  const before = tier(oldRing);
  for (let i = 0; i < entries; i++) {
    const value = { kind: "generation", pieces: [`answer ${i}`], promptTokens: 1 } as const;
    assert.ok(await before.set(`t|d|chat|${i}`, value as never, 600_000));
  }
  /** How many entries each key id seals. */
  const census = async () => {
    const byKey: Record<string, number> = {};
    for (const name of await client.keys("bulwark:rcache:*")) {
      const id = newRing.keyIdOf((await client.getBuffer(name))!);
      byKey[id] = (byKey[id] ?? 0) + 1;
    }
    return byKey;
  };
  const env = {
    ...process.env,
    BULWARK_HOME: home,
    BULWARK_STATE_BACKEND: "redis",
    BULWARK_STATE_REDIS_URL: redis.url,
    BULWARK_DATA_KEY_FILE: newFile,
    BULWARK_DATA_KEY_PREVIOUS_FILES: oldFile,
  };
  delete (env as Record<string, unknown>).BULWARK_CONFIG;
  return { home, redis, oldRing, newRing, both, tier, census, env };
}

test(
  "keys reseal re-encrypts the cache tier with the new key in batches, with progress, resumable; the old key opens the rest meanwhile",
  { skip: missingRedis },
  async (t) => {
    const f = await rotatedFleet(t, 300);
    const reseal = (extra: string[]) =>
      spawnSync(
        process.execPath,
        [join(repoRoot(), "bin", "bulwark.js"), "keys", "reseal", "--json", ...extra],
        { encoding: "utf8", env: f.env, timeout: 120_000 },
      );
    const first = reseal(["--batch", "20", "--batches", "2"]);
    assert.equal(first.status, 0, first.stderr);
    const partial = JSON.parse(first.stdout);
    assert.equal(partial.done, false);
    assert.ok(partial.resealed > 0 && partial.resealed < 300, first.stdout);
    assert.match(first.stderr, new RegExp(`reseal to ${f.newRing.current.id}`));
    const mid = await f.census();
    assert.equal(mid[f.newRing.current.id], partial.resealed);
    assert.equal(mid[f.oldRing.current.id], 300 - partial.resealed);
    // Until the reseal is done, a gateway with both keys answers every entry.
    const reader = f.tier(f.both);
    for (const i of [0, 150, 299]) {
      assert.equal((await reader.get(`t|d|chat|${i}`))?.value.kind, "generation", `entry ${i}`);
    }
    // The next run goes on from the checkpoint and finishes.
    const second = reseal(["--batch", "50"]);
    assert.equal(second.status, 0, second.stderr);
    const done = JSON.parse(second.stdout);
    assert.equal(done.done, true);
    assert.equal(done.resealed, 300, "the counts carry over from the first run");
    assert.equal(done.unreadable, 0);
    assert.deepEqual(await f.census(), { [f.newRing.current.id]: 300 });
    // The new key alone now opens everything: the old file may go.
    const newOnly = f.tier(f.newRing);
    for (let i = 0; i < 300; i += 37) {
      const got = await newOnly.get(`t|d|chat|${i}`);
      assert.deepEqual((got?.value as { pieces: string[] } | undefined)?.pieces, [`answer ${i}`]);
    }
    const text = spawnSync(
      process.execPath,
      [join(repoRoot(), "bin", "bulwark.js"), "keys", "reseal"],
      { encoding: "utf8", env: f.env, timeout: 120_000 },
    );
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /^done: 0 resealed, 300 unchanged, 0 unreadable, of 300 values/m);
    assert.match(text.stdout, /may leave BULWARK_DATA_KEY_PREVIOUS_FILES/);
  },
);

test(
  "a gateway started with a previous key reseals the cache tier in the background",
  { skip: missingRedis },
  async (t) => {
    const f = await rotatedFleet(t, 120);
    const server = await startTestServer(
      {
        home: f.home,
        models: [{ name: "fake", path: "/models/fake.gguf" }],
        state: { backend: "redis", redisUrl: f.redis.url, commandTimeoutMs: 1_000 },
      },
      { replicaFactory: fakeEngine().factory, adminKey: generateKey().full, keyring: f.both },
    );
    t.after(() => server.close());
    assert.ok(
      await waitFor(async () => (await f.census())[f.oldRing.current.id] === undefined, 30_000),
      "every entry moved to the new key",
    );
    assert.deepEqual(await f.census(), { [f.newRing.current.id]: 120 });
    assert.ok(
      await waitFor(() => server.logs.some((l) => /data key reseal: done/.test(String(l.msg)))),
    );
  },
);

test("keys reseal re-encrypts batch files line by line with the new key; sizes and contents stay; the new key alone reads them", async (t) => {
  const home = mkdtempSync(join(tmpdir(), "bulwark-reseal-files-"));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const { oldFile, newFile, oldRing, newRing } = twoKeys(home);
  const model = {
    models: [{ name: "fake", path: "/models/fake.gguf" }],
    cache: { enabled: false },
  };
  const lines = [chatLine("a", "first question"), chatLine("b", "second question")];

  // Written under the old key: an input file and the results of a batch that ran on it.
  const before = await startTestServer(
    { home, ...model },
    { replicaFactory: fakeEngine().factory, keyring: oldRing },
  );
  let input: string;
  let output: string;
  let outputText: string;
  try {
    const file = await upload(before.url, jsonl(lines));
    assert.equal(file.status, 200, file.text);
    input = file.json.id;
    const batch = await api(before.url, "POST", "/v1/batches", undefined, {
      input_file_id: input,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    });
    const done = await waitForBatch(before.url, batch.json.id, ["completed"]);
    output = done.output_file_id;
    outputText = (await api(before.url, "GET", `/v1/files/${output}/content`)).text;
    assert.equal(parseJsonl(outputText).length, 2);
  } finally {
    await before.close();
  }
  const dir = join(home, "files");
  const keyIds = (id: string) =>
    new Set(
      readFileSync(join(dir, `${id}.jsonl`), "latin1")
        .split("\n")
        .filter(Boolean)
        .map((l) => newRing.keyIdOf(Buffer.from(l, "base64"))),
    );
  const sizes = () => [input, output].map((id) => statSync(join(dir, `${id}.jsonl`)).size);
  assert.deepEqual([...keyIds(input)], [oldRing.current.id]);
  const sizesBefore = sizes();

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    BULWARK_HOME: home,
    BULWARK_DATA_KEY_FILE: newFile,
    BULWARK_DATA_KEY_PREVIOUS_FILES: oldFile,
  };
  delete env.BULWARK_CONFIG;
  const run = spawnSync(
    process.execPath,
    [join(repoRoot(), "bin", "bulwark.js"), "keys", "reseal", "--json"],
    { encoding: "utf8", timeout: 120_000, env },
  );
  assert.equal(run.status, 0, run.stderr);
  const counts = JSON.parse(run.stdout).files;
  assert.equal(counts.resealedFiles, counts.files, run.stdout);
  assert.ok(counts.files >= 2, run.stdout);
  assert.equal(counts.resealedLines >= 4, true, run.stdout);
  assert.equal(counts.unreadable, 0);
  assert.match(run.stderr, new RegExp(`reseal batch files to ${newRing.current.id}`));
  for (const id of [input, output]) assert.deepEqual([...keyIds(id)], [newRing.current.id], id);
  assert.deepEqual(sizes(), sizesBefore, "a resealed line keeps its length, so offsets hold");

  // The new key alone now reads both files as they were.
  const after = await startTestServer(
    { home, ...model },
    { replicaFactory: fakeEngine().factory, keyring: newRing },
  );
  try {
    assert.equal((await api(after.url, "GET", `/v1/files/${input}/content`)).text, jsonl(lines));
    assert.equal((await api(after.url, "GET", `/v1/files/${output}/content`)).text, outputText);
  } finally {
    await after.close();
  }
});
