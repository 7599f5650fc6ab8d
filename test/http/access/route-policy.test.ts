/**
 * A route's policy follows the route the request reaches, not the spelling of its URL: every
 * protected path, spelled with percent-escapes (lower- and upper-case hex), dot segments or a
 * doubled slash, gets the same answer as the plain path, for every role and for no key.
 * The paths go out byte for byte (node:http), since fetch() would normalise them first.
 */
import { request as httpRequest } from "node:http";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { roles } from "../../../src/auth/index.js";
import { chatBody, MODEL, startSecureServer, type SecureServer } from "../../helpers/access.js";

let s: SecureServer;
const keys = new Map<string, string | undefined>([["no key", undefined]]);

before(async () => {
  // No per-IP limit: the test sends about a thousand requests from one address.
  s = await startSecureServer({ rateLimits: { ipRpm: 0 } });
  for (const role of roles) {
    keys.set(role, role === "admin" ? s.adminKey : (await s.createKey({ name: role, role })).key);
  }
});
after(() => s.close());

interface Answer {
  status: number;
  code: string | undefined;
}

/** Sends `path` exactly as written; answers the status and the error code, if any. */
function send(
  base: string,
  method: string,
  path: string,
  key: string | undefined,
  body?: unknown,
): Promise<Answer> {
  const { hostname, port } = new URL(base);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string> = {};
  if (key) headers.authorization = `Bearer ${key}`;
  if (payload !== undefined) headers["content-type"] = "application/json";
  return new Promise((resolve, reject) => {
    const req = httpRequest({ hostname, port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        let code: string | undefined;
        try {
          code = (JSON.parse(Buffer.concat(chunks).toString("utf8")) as any)?.error?.code;
        } catch {
          code = undefined;
        }
        resolve({ status: res.statusCode ?? 0, code });
      });
    });
    req.on("error", reject);
    req.end(payload);
  });
}

const escape = (segment: string, upper: boolean) => {
  const hex = segment.charCodeAt(0).toString(16);
  return `%${upper ? hex.toUpperCase() : hex}${segment.slice(1)}`;
};

/** Other spellings of `path` that name the same resource. */
function spellings(path: string): string[] {
  const segments = path.split("/").slice(1);
  const last = segments.length - 1;
  const join = (parts: string[]) => "/" + parts.join("/");
  const replaced = (i: number, s: string) => join(segments.map((x, j) => (j === i ? s : x)));
  return [
    replaced(last, escape(segments[last]!, false)), // /%6detrics
    replaced(last, escape(segments[last]!, true)), // /%6Detrics
    replaced(0, escape(segments[0]!, true)), // /%76%31/models (first segment)
    join(segments.map((x) => escape(x, false))), // every segment
    `/.${path}`, // /./metrics
    `/v1/..${path}`, // /v1/../metrics
    `/${path}`, // //metrics
    `/%2e${path}`, // /%2e/metrics
    `/v1/%2E%2E${path}`, // /v1/%2E%2E/metrics
    path.replace(/\/([^/]*)$/, "/./$1"), // /v1/./models
  ];
}

type Route = [method: string, path: string, body?: unknown];

const publicRoutes: Route[] = [
  ["GET", "/livez"],
  ["GET", "/readyz"],
  ["GET", "/health"],
  ["GET", "/metrics"],
  ["GET", "/v1/models"],
  ["GET", `/v1/models/${MODEL}`],
  ["GET", "/v1/usage"],
  ["POST", "/v1/chat/completions", chatBody()],
  ["POST", "/v1/completions", { model: MODEL, prompt: "x", max_tokens: 2 }],
  ["POST", "/v1/embeddings", { model: MODEL, input: "x" }],
  ["POST", "/tokenize", { model: MODEL, prompt: "x" }],
  ["POST", "/detokenize", { model: MODEL, tokens: [5] }],
];

// Read-only calls, or calls that fail on their input after the permission check: the answers
// do not change between the spellings.
const adminRoutes: Route[] = [
  ["GET", "/admin/keys"],
  ["GET", "/admin/bans"],
  ["GET", "/admin/usage"],
  ["GET", "/admin/audit/verify"],
  ["GET", "/admin/alerts"],
  ["GET", "/admin/guards"],
  ["GET", "/admin/models"],
  ["POST", "/admin/keys/zzzzzzzzzzzz/revoke"],
  ["PATCH", "/admin/keys/zzzzzzzzzzzz", { role: "nobody" }],
  ["POST", "/admin/bans", {}],
  ["DELETE", "/admin/models/nothing/1"],
];

async function checkListener(base: () => string, routes: Route[]): Promise<void> {
  const mismatches: string[] = [];
  for (const [who, key] of keys) {
    for (const [method, path, body] of routes) {
      const plain = await send(base(), method, path, key, body);
      const answers = await Promise.all(
        spellings(path).map(async (spelled) => ({
          spelled,
          answer: await send(base(), method, spelled, key, body),
        })),
      );
      for (const { spelled, answer } of answers) {
        if (answer.status !== plain.status || answer.code !== plain.code) {
          mismatches.push(
            `${who}: ${method} ${spelled} → ${answer.status} ${answer.code ?? ""}, but ` +
              `${path} → ${plain.status} ${plain.code ?? ""}`,
          );
        }
      }
    }
  }
  assert.deepEqual(
    mismatches,
    [],
    `${mismatches.length} answers differ:\n${mismatches.join("\n")}`,
  );
}

test("public listener: every spelling of a path gets the plain path's answer, for every role", async () => {
  await checkListener(() => s.server.url, publicRoutes);
});

test("admin listener: every spelling of a path gets the plain path's answer, for every role", async () => {
  await checkListener(() => s.server.adminUrl, adminRoutes);
});

test("a user key does not read /metrics under any spelling", async () => {
  const user = keys.get("user");
  for (const spelled of ["/metrics", ...spellings("/metrics")]) {
    const res = await send(s.server.url, "GET", spelled, user);
    assert.equal(res.status, 403, spelled);
    assert.equal(res.code, "permission_denied", spelled);
  }
});
