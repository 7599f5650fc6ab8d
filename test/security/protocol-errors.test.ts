/**
 * What Node and Fastify answer by themselves, below the routes (issue 17, hole 6): a malformed
 * request line, NUL in a header, non-ASCII bytes in Authorization, a GET with a body and
 * oversized headers all get OpenAI's error envelope, on both listeners.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startSecureServer, type SecureServer } from "../helpers/access.js";
import { isOpenAiError, rawRequest } from "../helpers/raw-http.js";

let s: SecureServer;
before(async () => {
  s = await startSecureServer();
});
after(() => s.close());

/** What to send, and the status expected: 0 for any 4xx, 200 for any status below 500. */
function cases(key: string): [string, Buffer | string, number][] {
  return [
    ["malformed request line", "GARBAGE\r\n\r\n", 400],
    ["no HTTP version", "GET /v1/models\r\n\r\n", 0],
    ["NUL in a header", "GET /v1/models HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n", 400],
    [
      "non-ASCII bytes in Authorization",
      Buffer.concat([
        Buffer.from("GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "),
        Buffer.from([0xc3, 0xa9, 0xff, 0xfe]),
        Buffer.from("\r\nConnection: close\r\n\r\n"),
      ]),
      401,
    ],
    [
      "a GET with a body",
      `GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\n` +
        `Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`,
      200,
    ],
    [
      "a GET with a body that is not JSON",
      `GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\n` +
        `Content-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc`,
      200,
    ],
    [
      "oversized headers",
      `GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`,
      431,
    ],
    [
      "bad chunked body",
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n",
      400,
    ],
    [
      "bad Content-Length",
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
      400,
    ],
    ["invalid URL escape", "GET /v1/%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400],
  ];
}

test("every protocol-level refusal is in OpenAI's error shape, on both listeners", async () => {
  for (const base of [s.server.url, s.server.adminUrl]) {
    for (const [what, bytes, expected] of cases(s.adminKey)) {
      const res = await rawRequest(base, bytes);
      const label = `${base} ${what}: ${res.status} ${JSON.stringify(res.body.slice(0, 200))}`;
      assert.ok(res.status < 500, label);
      if (expected !== 200 || res.status >= 400) {
        assert.ok(res.status >= 400, label);
        assert.ok(isOpenAiError(res.body), label);
        assert.match(res.headers, /content-type: application\/json/i, label);
      }
      if (expected !== 200 && expected !== 0) assert.equal(res.status, expected, label);
    }
  }
});

test("a path's escaped spelling gets the plain path's permission (hole 4)", async () => {
  const user = await s.createKey({ name: "u", role: "user" });
  for (const path of [
    "/metrics",
    "/%6detrics",
    "/%6Detrics",
    "/./metrics",
    "/v1/../metrics",
    "//metrics",
  ]) {
    const res = await rawRequest(
      s.server.url,
      `GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${user.key}\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(res.status, 403, `${path}: ${res.body.slice(0, 200)}`);
    assert.ok(isOpenAiError(res.body), path);
    assert.doesNotMatch(res.body, /bulwark_/, `${path} leaked metrics`);
  }
});

test("a path segment over the router's length bound is a 400, not a 500", async () => {
  for (const method of ["GET", "HEAD"]) {
    const res = await fetch(`${s.server.url}/v1/models/${"x".repeat(3000)}`, {
      method,
      headers: { authorization: `Bearer ${s.adminKey}` },
    });
    assert.equal(res.status, 400, method);
    if (method === "GET") assert.ok(isOpenAiError(await res.text()));
  }
});
