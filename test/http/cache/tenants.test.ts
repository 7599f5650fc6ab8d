import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { call, chatBody, startSecureServer, type SecureServer } from "../../helpers/access.js";
import { waitFor } from "../../helpers/server.js";
import { main } from "../../../src/cli/index.js";

// The response cache behind real keys: tenants, namespaces, key modes, masking, the admin API,
// usage and metrics. The fake engine ignores the model file, but the cache hashes it: a real
// file gives the model a digest.
let s: SecureServer;
let dir: string;
const cacheHeader = (r: { headers: Headers }) => r.headers.get("x-bulwark-cache");

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "bulwark-cache-"));
  const model = join(dir, "model.gguf");
  writeFileSync(model, "not a real model: the fake engine does not read it");
  s = await startSecureServer({ models: [{ name: "fake", path: model }] });
  const probe = await s.createKey({ name: "probe", role: "user" });
  // The digest is computed in the background after the start.
  assert.ok(
    await waitFor(async () => {
      const r = await chatAs(probe.key, chatBody("probe", { temperature: 0 }), {
        "x-bulwark-cache": "no-store",
      });
      return cacheHeader(r) === "miss";
    }),
  );
});
after(async () => {
  await s.close();
  rmSync(dir, { recursive: true, force: true });
});

const chatAs = (key: string, body: unknown, headers: Record<string, string> = {}) =>
  call(`${s.server.url}/v1/chat/completions`, key, "POST", body, headers);
const setCache = (id: string, body: unknown) =>
  call(`${s.server.adminUrl}/admin/keys/${id}/cache`, s.adminKey, "PUT", body);

test("two keys, same request: the second key misses, the same key hits", async () => {
  const a = await s.createKey({ name: "a", role: "user" });
  const b = await s.createKey({ name: "b", role: "user" });
  const body = chatBody("isolation", { temperature: 0 });
  assert.equal(cacheHeader(await chatAs(a.key, body)), "miss");
  assert.equal(cacheHeader(await chatAs(b.key, body)), "miss", "another tenant");
  assert.equal(cacheHeader(await chatAs(a.key, body)), "hit");
  assert.equal(cacheHeader(await chatAs(b.key, body)), "hit");
});

test("keys in one namespace share entries; a reversible-masking key never does", async () => {
  const a = await s.createKey({ name: "team-a", role: "user" });
  const b = await s.createKey({ name: "team-b", role: "user" });
  const r = await s.createKey({ name: "team-r", role: "user", mask: "reversible" });
  for (const k of [a, b, r]) {
    const res = await setCache(k.id, { namespace: "team" });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.namespace, "team");
  }
  const body = chatBody("shared question", { temperature: 0 });
  assert.equal(cacheHeader(await chatAs(a.key, body)), "miss");
  assert.equal(cacheHeader(await chatAs(b.key, body)), "hit", "same namespace");
  assert.equal(cacheHeader(await chatAs(r.key, body)), "miss", "reversible: its own");
  const other = await s.createKey({ name: "outsider", role: "user" });
  assert.equal(cacheHeader(await chatAs(other.key, body)), "miss");

  // Clearing the namespace leaves the outsider's and the reversible key's entries.
  const cleared = await call(
    `${s.server.adminUrl}/admin/cache?namespace=team`,
    s.adminKey,
    "DELETE",
  );
  assert.equal(cleared.status, 200, cleared.text);
  assert.equal(cleared.json.removed, 1);
  assert.equal(cacheHeader(await chatAs(b.key, body)), "miss");
  assert.equal(cacheHeader(await chatAs(other.key, body)), "hit");
  assert.equal(cacheHeader(await chatAs(r.key, body)), "hit");
});

test("reversible masking: the entry holds placeholders, each request restores its own", async () => {
  const r = await s.createKey({ name: "rev", role: "user", mask: "reversible" });
  const ask = (mail: string) =>
    chatAs(r.key, chatBody(`write to ${mail} please`, { temperature: 0, max_tokens: 30 }));
  const first = await ask("alice@example.com");
  assert.equal(cacheHeader(first), "miss");
  // The same prompt with another address is masked to the same text: a hit, restored with
  // this request's own address (the engine never saw either).
  const second = await ask("bob@example.org");
  assert.equal(cacheHeader(second), "hit");
  assert.equal(second.status, 200);
  assert.ok(!second.text.includes("alice@example.com"), "never another request's PII");
});

test("key modes: off bypasses, read-only reads but never stores", async () => {
  const k = await s.createKey({ name: "modes", role: "user" });
  const body = chatBody("modes", { temperature: 0 });
  assert.equal((await setCache(k.id, { mode: "read-only" })).json.mode, "read-only");
  assert.equal(cacheHeader(await chatAs(k.key, body)), "miss");
  assert.equal(cacheHeader(await chatAs(k.key, body)), "miss", "read-only stored nothing");
  await setCache(k.id, { mode: "on" });
  assert.equal(cacheHeader(await chatAs(k.key, body)), "miss");
  await setCache(k.id, { mode: "read-only" });
  assert.equal(cacheHeader(await chatAs(k.key, body)), "hit", "read-only reads");
  await setCache(k.id, { mode: "off" });
  assert.equal(cacheHeader(await chatAs(k.key, body)), "bypass");
  const bad = await setCache(k.id, { mode: "sometimes" });
  assert.equal(bad.status, 400);
  const missing = await setCache("nokey", { mode: "on" });
  assert.equal(missing.status, 404);
  const user = await s.createKey({ name: "plain-user", role: "user" });
  const denied = await call(`${s.server.adminUrl}/admin/cache`, user.key, "DELETE");
  assert.equal(denied.status, 403);
});

test("usage counts hits as cached requests; metrics count lookups, hits and stores", async () => {
  const k = await s.createKey({ name: "usage", role: "user" });
  const body = chatBody("usage", { temperature: 0 });
  await chatAs(k.key, body);
  await chatAs(k.key, body);
  await chatAs(k.key, body);
  const usage = await call(`${s.server.adminUrl}/admin/usage?key=${k.id}`, s.adminKey);
  assert.equal(usage.status, 200, usage.text);
  const row = usage.json.data[0];
  assert.equal(row.requests, 3);
  assert.equal(row.cached_requests, 2);
  const stats = await call(`${s.server.adminUrl}/admin/cache`, s.adminKey);
  assert.equal(stats.json.enabled, true);
  assert.ok(stats.json.entries > 0 && stats.json.bytes > 0);
  assert.equal(stats.json.semanticQuestions, 0, "no key here has a semantic cache");
  const metrics = await call(`${s.server.url}/metrics`, s.adminKey);
  for (const name of [
    'bulwark_response_cache_lookups_total{kind="exact"}',
    'bulwark_response_cache_hits_total{kind="exact"}',
    "bulwark_response_cache_stores_total",
    "bulwark_response_cache_bytes",
  ]) {
    assert.match(metrics.text, new RegExp(`^${name.replace(/[{}]/g, "\\$&")} [1-9]`, "m"), name);
  }
  const all = await call(`${s.server.adminUrl}/admin/cache?model=fake`, s.adminKey, "DELETE");
  assert.ok(all.json.removed > 0);
  assert.equal((await call(`${s.server.adminUrl}/admin/cache`, s.adminKey)).json.entries, 0);
});

/** Runs the CLI in this process (the server answers on the same event loop). */
async function cli(args: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...parts: unknown[]) => lines.push(parts.join(" "));
  try {
    const code = await main(args);
    return { code, out: lines.join("\n") };
  } finally {
    console.log = log;
  }
}

test("bulwark cache stats | clear | key", async () => {
  const k = await s.createKey({ name: "cli", role: "user" });
  const body = chatBody("cli question", { temperature: 0 });
  await chatAs(k.key, body);
  const admin = ["--admin-url", s.server.adminUrl, "--api-key", s.adminKey];
  const stats = await cli(["cache", "stats", ...admin, "--json"]);
  assert.equal(stats.code, 0);
  assert.ok(JSON.parse(stats.out).entries >= 1);
  const cleared = await cli(["cache", "clear", "--model", "fake", ...admin]);
  assert.equal(cleared.code, 0);
  assert.match(cleared.out, /^Removed \d+ entr/);
  assert.equal(cacheHeader(await chatAs(k.key, body)), "miss");
  const key = await cli(["cache", "key", k.id, "--mode", "off", "--home", s.server.home, "--json"]);
  assert.equal(key.code, 0, key.out);
  assert.equal(JSON.parse(key.out).mode, "off");
  assert.equal(cacheHeader(await chatAs(k.key, body)), "bypass", "the server reads the store");
  const refused = await cli([
    "cache",
    "stats",
    "--admin-url",
    s.server.adminUrl,
    "--api-key",
    k.key,
  ]);
  assert.equal(refused.code, 1);
});

test("a hit costs no tokens by default; with cache.countHitTokens it does", async () => {
  const k = await s.createKey({ name: "tokens", role: "user", tpm: 100_000 });
  const body = chatBody("token question", { temperature: 0 });
  const miss = await chatAs(k.key, body);
  assert.equal(cacheHeader(miss), "miss");
  assert.ok(miss.headers.get("x-ratelimit-remaining-tokens"), "the miss reserved tokens");
  const hit = await chatAs(k.key, body);
  assert.equal(cacheHeader(hit), "hit");
  assert.equal(hit.headers.get("x-ratelimit-remaining-tokens"), null, "no tokens for a hit");

  const model = join(dir, "model.gguf");
  const counting = await startSecureServer({
    models: [{ name: "fake", path: model }],
    cache: { countHitTokens: true },
  });
  try {
    const c = await counting.createKey({ name: "counted", role: "user", tpm: 100_000 });
    const ask = () => call(`${counting.server.url}/v1/chat/completions`, c.key, "POST", body, {});
    assert.ok(await waitFor(async () => cacheHeader(await ask()) === "hit"));
    const counted = await ask();
    assert.equal(cacheHeader(counted), "hit");
    const remaining = Number(counted.headers.get("x-ratelimit-remaining-tokens"));
    assert.ok(remaining > 0 && remaining < 100_000, `remaining ${remaining}`);
  } finally {
    await counting.close();
  }
});
