/**
 * A seeded generator of hostile requests over every route of both listeners, against the real
 * `bulwark serve` with its real engine worker: at least 2,000 per run. Asserts no answer is
 * ≥ 500, every error is OpenAI's envelope, no body or log line holds a stack trace, a file
 * path or a secret, and the server and its worker are alive and serving at the end.
 * The seed is printed; FUZZ_SEED=n replays a run.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { spawnServe, waitReady } from "../helpers/serve-process.js";
import { tempDir } from "../helpers/model-files.js";
import { repoRoot } from "../helpers/paths.js";
import { isOpenAiError, rawRequest } from "../helpers/raw-http.js";
import { generateKey } from "../../src/auth/index.js";
import { seededRandom, type Random } from "../../src/util/seeded-random.js";

const REQUESTS = 2_000;
const IN_FLIGHT = 8;
const MODEL = "bulwark-demo";

interface Route {
  admin: boolean;
  method: string;
  path: string;
  body?: () => unknown;
}

const chat = () => ({ model: MODEL, messages: [{ role: "user", content: "hi" }], max_tokens: 2 });
const completion = () => ({ model: MODEL, prompt: "Once upon a time", max_tokens: 2 });

/** Every route, with a valid body to mutate where it takes one. */
const ROUTES: Route[] = [
  { admin: false, method: "GET", path: "/livez" },
  { admin: false, method: "GET", path: "/readyz" },
  { admin: false, method: "GET", path: "/health" },
  { admin: false, method: "GET", path: "/metrics" },
  { admin: false, method: "GET", path: "/v1/models" },
  { admin: false, method: "GET", path: `/v1/models/${MODEL}` },
  { admin: false, method: "GET", path: "/v1/usage" },
  { admin: false, method: "POST", path: "/v1/chat/completions", body: chat },
  { admin: false, method: "POST", path: "/v1/completions", body: completion },
  {
    admin: false,
    method: "POST",
    path: "/v1/embeddings",
    body: () => ({ model: MODEL, input: "hi" }),
  },
  {
    admin: false,
    method: "POST",
    path: "/tokenize",
    body: () => ({ model: MODEL, content: "hi" }),
  },
  {
    admin: false,
    method: "POST",
    path: "/detokenize",
    body: () => ({ model: MODEL, tokens: [1, 2] }),
  },
  { admin: true, method: "GET", path: "/admin/keys" },
  { admin: true, method: "POST", path: "/admin/keys", body: () => ({ name: "fz", role: "user" }) },
  { admin: true, method: "POST", path: "/admin/keys/abcdefghijkl/revoke" },
  { admin: true, method: "POST", path: "/admin/keys/abcdefghijkl/rotate" },
  {
    admin: true,
    method: "PATCH",
    path: "/admin/keys/abcdefghijkl",
    body: () => ({ role: "user" }),
  },
  { admin: true, method: "GET", path: "/admin/bans" },
  {
    admin: true,
    method: "POST",
    path: "/admin/bans",
    body: () => ({ ip: "203.0.113.9", durationMs: 1000 }),
  },
  { admin: true, method: "DELETE", path: "/admin/bans/203.0.113.9" },
  { admin: true, method: "GET", path: "/admin/usage" },
  { admin: true, method: "GET", path: "/admin/audit" },
  { admin: true, method: "GET", path: "/admin/audit/verify" },
  { admin: true, method: "GET", path: "/admin/alerts" },
  { admin: true, method: "GET", path: "/admin/guards" },
  { admin: true, method: "GET", path: "/admin/models" },
  {
    admin: true,
    method: "POST",
    path: "/admin/models/import",
    body: () => ({ path: "/etc/passwd", name: "x" }),
  },
  { admin: true, method: "POST", path: "/admin/models/x/promote", body: () => ({ version: "1" }) },
  { admin: true, method: "POST", path: "/admin/models/x/rollback" },
  { admin: true, method: "POST", path: "/admin/models/verify", body: () => ({}) },
  { admin: true, method: "DELETE", path: "/admin/models/x/1" },
  { admin: true, method: "GET", path: "/admin/backups" },
  { admin: true, method: "GET", path: "/admin/cache" },
];

const pick = <T>(r: Random, list: readonly T[]): T => list[Math.floor(r() * list.length)]!;

const HOSTILE_STRINGS = [
  "",
  " ",
  "\u0000",
  "\u001b[2J",
  "../../../../etc/passwd",
  "%00",
  "${jndi:ldap://x}",
  "<script>alert(1)</script>",
  "' OR 1=1 --",
  "\ud800",
  "𝕳𝖊𝖑𝖑𝖔",
  "a".repeat(70_000),
  "{{7*7}}",
  "__proto__",
  "constructor",
];
const HOSTILE_VALUES: unknown[] = [
  null,
  true,
  -1,
  0,
  1e308,
  -1e308,
  2 ** 53 + 1,
  1.5,
  [],
  {},
  [[[[[]]]]],
  { __proto__: { admin: true } },
  ...HOSTILE_STRINGS,
];

/** encodeURIComponent, with a lone surrogate written as the bytes a client could still send. */
function safeEncode(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return "%ED%A0%80";
  }
}

function deep(n: number): string {
  return "[".repeat(n) + "]".repeat(n);
}

/** A mutated copy of a JSON value. */
function mutate(r: Random, value: unknown, depth = 0): unknown {
  if (depth > 3 || r() < 0.25) return pick(r, HOSTILE_VALUES);
  if (Array.isArray(value)) {
    const out = value.map((v) => (r() < 0.3 ? mutate(r, v, depth + 1) : v));
    if (r() < 0.2) out.push(pick(r, HOSTILE_VALUES));
    return out;
  }
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    const keys = Object.keys(out);
    if (keys.length && r() < 0.6) out[pick(r, keys)] = mutate(r, out[pick(r, keys)], depth + 1);
    if (keys.length && r() < 0.15) delete out[pick(r, keys)];
    if (r() < 0.2)
      out[
        pick(r, [
          "stream",
          "n",
          "temperature",
          "max_tokens",
          "logit_bias",
          "stop",
          "tools",
          "role",
          "id",
          "digest",
          "createdAt",
          "response_format",
          "seed",
          "top_p",
          "models",
          "ips",
        ])
      ] = pick(r, HOSTILE_VALUES);
    return out;
  }
  return pick(r, HOSTILE_VALUES);
}

interface Sent {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
}

function hostileRequest(r: Random, urls: { pub: string; admin: string }, keys: string[]): Sent {
  const route =
    r() < 0.9
      ? pick(r, ROUTES)
      : {
          admin: r() < 0.5,
          method: pick(r, ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
          path: pick(r, [
            "/",
            "/v1",
            "/v2/chat",
            "/admin",
            "/admin/../v1/models",
            "/%2e%2e/admin/keys",
            "/v1/models/%00",
            "/admin/keys/%2F..%2F",
            "/.env",
            "/v1/models/" + "x".repeat(3000),
          ]),
        };
  // Usually the right listener; sometimes the other one.
  const onAdmin = r() < 0.9 ? route.admin : !route.admin;
  let path = route.path;
  if (r() < 0.1)
    path += `?${pick(r, ["key=", "key=../../", "since=-1&until=x", "a=%zz", "force=true", "x=" + "y".repeat(5000)])}`;
  if (r() < 0.05)
    path = path.replace(/\/[^/]*$/, "/" + safeEncode(pick(r, HOSTILE_STRINGS).slice(0, 200)));
  const headers: Record<string, string> = {};
  const auth = r();
  if (auth < 0.75) headers.authorization = `Bearer ${pick(r, keys)}`;
  else if (auth < 0.83)
    headers.authorization = pick(r, [
      "Bearer",
      "Bearer ",
      "Basic YWRtaW46YWRtaW4=",
      "Bearer bwk_",
      "Bearer bwk_aaaaaaaaaaaa_" + "b".repeat(36),
      "bearer " + pick(r, keys),
    ]);
  else if (auth < 0.93) headers["x-api-key"] = pick(r, keys);
  let method = route.method;
  if (r() < 0.05) method = pick(r, ["GET", "POST", "DELETE", "PATCH", "PUT"]);
  let body: string | undefined;
  if (method !== "GET" && method !== "HEAD") {
    const base = route.body?.() ?? {};
    const kind = r();
    if (kind < 0.55) body = JSON.stringify(mutate(r, base));
    else if (kind < 0.65) body = JSON.stringify(base).slice(0, Math.floor(r() * 20));
    else if (kind < 0.7) body = deep(1 + Math.floor(r() * 20_000));
    else if (kind < 0.75)
      body = JSON.stringify({ ...(base as object), padding: "p".repeat(2_000_000) });
    else if (kind < 0.8) body = "";
    else if (kind < 0.85) body = JSON.stringify(pick(r, HOSTILE_VALUES));
    else body = JSON.stringify(base);
    const ct = r();
    headers["content-type"] =
      ct < 0.85
        ? "application/json"
        : pick(r, [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/json; charset=utf-16",
            "",
            "*/*",
          ]);
    if (!headers["content-type"]) delete headers["content-type"];
  }
  return { method, url: `${onAdmin ? urls.admin : urls.pub}${path}`, headers, body };
}

const STACK = /\n\s+at [^\n]+:\d+:\d+|Error: .*\n\s+at /;

test("2,000 seeded hostile requests: no 5xx, every error in OpenAI's shape, nothing leaked, still serving", async (t) => {
  const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
  console.log(`fuzz seed ${seed} (FUZZ_SEED=${seed} replays it)`);
  const r = seededRandom(seed);
  const home = tempDir("bulwark-fuzz-");
  const adminKey = generateKey().full;
  const run = spawnServe(["--port", "0", "--gpu", "cpu", "--threads", "1", "--ctx", "256"], {
    ...process.env,
    BULWARK_HOME: home,
    BULWARK_ADMIN_KEY: adminKey,
    // Room for the run: the per-IP and per-key limits would otherwise answer most with 429.
    BULWARK_RATE_LIMITS_IP_RPM: "1000000",
    BULWARK_SECURITY_AUTO_BAN_ENABLED: "false",
  });
  t.after(async () => {
    run.child.kill("SIGTERM");
    await run.exit;
    rmSync(home, { recursive: true, force: true });
  });
  const url = await run.url;
  assert.ok(await waitReady(url, 120_000), "not ready");
  const adminUrl = run.lines.find((l) => l.msg === "admin API listening")?.url as string;
  assert.ok(adminUrl, "no admin API URL in the log");
  const auth = { authorization: `Bearer ${adminKey}`, "content-type": "application/json" };
  const mk = async (role: string) => {
    const res = await fetch(`${adminUrl}/admin/keys`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ name: `fuzz-${role}`, role }),
    });
    return ((await res.json()) as { key: string }).key;
  };
  const userKey = await mk("user");
  const auditorKey = await mk("auditor");
  const secrets = [adminKey, userKey, auditorKey];
  // Mostly valid keys, so most requests get past auth to the parsers and services.
  const keys = [
    adminKey,
    adminKey,
    adminKey,
    userKey,
    userKey,
    auditorKey,
    "bwk_wrong",
    userKey.slice(0, -1) + "x",
    "sk-not-a-key",
  ];

  const statuses = new Map<number, number>();
  const failures: string[] = [];
  let sent = 0;
  const check = (what: string, status: number, body: string, contentType: string | null) => {
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    if (status >= 500) failures.push(`${status} ${what}: ${body.slice(0, 300)}`);
    if (status >= 400 && body.length > 0 && !isOpenAiError(body))
      failures.push(`not OpenAI's shape ${status} ${what}: ${body.slice(0, 300)}`);
    if (status >= 400 && body.length > 0 && !/application\/json/.test(contentType ?? ""))
      failures.push(`error not JSON ${status} ${what}: ${contentType}`);
    if (STACK.test(body)) failures.push(`stack trace ${what}: ${body.slice(0, 300)}`);
    // Error bodies name no file; an admin's own listings may (the backup folder).
    const errorBody = status >= 400;
    if (body.includes(repoRoot()) || (errorBody && body.includes(home)) || /dist\/src\//.test(body))
      failures.push(`file path ${what}: ${body.slice(0, 300)}`);
    for (const s of secrets)
      if (body.includes(s) && !what.includes("POST /admin/keys"))
        failures.push(`secret in body ${what}`);
  };

  const one = async () => {
    const req = hostileRequest(r, { pub: url, admin: adminUrl }, keys);
    const what = `${req.method} ${req.url.replace(/^http:\/\/[^/]+/, "").slice(0, 120)}`;
    try {
      const res = await fetch(req.url, {
        method: req.method,
        headers: req.headers,
        body: req.body,
        signal: AbortSignal.timeout(30_000),
      });
      const body = await res.text();
      check(what, res.status, body, res.headers.get("content-type"));
    } catch (err) {
      failures.push(`no answer ${what}: ${(err as Error).message}`);
    }
    sent++;
  };
  // A slice of the run as raw bytes no client library would send.
  const raw = async (i: number) => {
    const base = i % 2 ? url : adminUrl;
    const bytes = pick(r, [
      "GARBAGE\r\n\r\n",
      `GET /v1/models HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n`,
      `GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`,
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`,
      `GET /v1/models HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello`,
      `GET /v1/%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    ]);
    try {
      const res = await rawRequest(base, bytes);
      check(
        `raw ${JSON.stringify(bytes.slice(0, 40))}`,
        res.status,
        res.body,
        /content-type: ([^\r\n]*)/i.exec(res.headers)?.[1] ?? null,
      );
    } catch (err) {
      failures.push(`raw: ${(err as Error).message}`);
    }
    sent++;
  };
  let next = 0;
  const lane = async () => {
    while (next < REQUESTS) {
      const i = next++;
      if (i % 25 === 0) await raw(i);
      else await one();
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));

  console.log(`statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
  assert.ok(sent >= REQUESTS, `sent ${sent}`);
  if (failures.length > 0) {
    console.log(`server stderr: ${run.stderr().slice(-3000)}`);
    console.log(`last log lines: ${JSON.stringify(run.lines.slice(-5)).slice(0, 3000)}`);
  }
  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} failures (seed ${seed})`);

  // The logs: no secret, and no request failed as an internal error.
  const log = JSON.stringify(run.lines) + run.stderr();
  for (const s of secrets) assert.ok(!log.includes(s), "a key's secret reached the log");
  const internal = run.lines.filter((l) => l.msg === "request failed");
  assert.deepEqual(internal.slice(0, 3), [], "requests failed as internal errors");

  // Alive and serving, on a worker.
  assert.equal((await fetch(`${url}/livez`)).status, 200);
  assert.equal((await fetch(`${url}/readyz`)).status, 200);
  const ok = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: auth,
    body: JSON.stringify(chat()),
  });
  assert.equal(ok.status, 200, await ok.text());
});
