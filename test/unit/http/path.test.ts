import { test } from "node:test";
import assert from "node:assert/strict";
import { normalizePath, normalizeUrl } from "../../../src/http/index.js";

test("escaped unreserved characters are decoded; other escapes stay", () => {
  assert.equal(normalizePath("/%6detrics"), "/metrics");
  assert.equal(normalizePath("/%6Detrics"), "/metrics");
  assert.equal(normalizePath("/v1/models/a%2Db%5F%7E"), "/v1/models/a-b_~");
  assert.equal(normalizePath("/v1/models/a%2Fb"), "/v1/models/a%2Fb");
  assert.equal(normalizePath("/v1/models/a%3Fb%25"), "/v1/models/a%3Fb%25");
  assert.equal(normalizePath("/v1/%zz"), "/v1/%zz");
});

test("dot segments are removed and doubled slashes collapsed (RFC 3986 §5.2.4)", () => {
  const cases: [string, string][] = [
    ["/", "/"],
    ["/metrics", "/metrics"],
    ["/./metrics", "/metrics"],
    ["/v1/../metrics", "/metrics"],
    ["/../../metrics", "/metrics"],
    ["/%2e/metrics", "/metrics"],
    ["/v1/%2E%2E/metrics", "/metrics"],
    ["//metrics", "/metrics"],
    ["/v1//models", "/v1/models"],
    ["/v1/models/", "/v1/models/"],
    ["/v1/.", "/v1/"],
    ["/v1/..", "/"],
    ["/a/b/../../c/./d", "/c/d"],
    ["/..", "/"],
    ["/...", "/..."],
  ];
  for (const [path, normal] of cases) assert.equal(normalizePath(path), normal, path);
});

test("normalizeUrl keeps the query string and leaves non-path targets alone", () => {
  assert.equal(normalizeUrl("/v1/../v1/usage?key=a/../b"), "/v1/usage?key=a/../b");
  assert.equal(normalizeUrl("//metrics?"), "/metrics?");
  assert.equal(normalizeUrl("*"), "*");
});
