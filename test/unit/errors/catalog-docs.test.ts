import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BulwarkError, toClientError, errorCatalog } from "../../../src/errors/index.js";
import { repoRoot } from "../../helpers/paths.js";

test("every error code of the catalog is documented in docs/api.md", () => {
  const docs = readFileSync(join(repoRoot(), "docs", "api.md"), "utf8");
  const missing = Object.keys(errorCatalog).filter((code) => !docs.includes(`\`${code}\``));
  assert.deepEqual(missing, [], `codes missing from docs/api.md: ${missing.join(", ")}`);
});

test("errors render in OpenAI's envelope with Retry-After when asked", () => {
  const err = new BulwarkError("queue_full", undefined, { retryAfterSeconds: 2.2 });
  assert.deepEqual(err.toBody(), {
    error: {
      message: errorCatalog.queue_full.message,
      type: "service_unavailable",
      param: null,
      code: "queue_full",
    },
  });
  assert.equal(err.status, 503);
  assert.equal(err.responseHeaders()["retry-after"], "3");
});

test("unknown errors become internal_error without their message", () => {
  const err = toClientError(new Error("/secret/path/model.gguf exploded"));
  assert.equal(err.code, "internal_error");
  assert.ok(!err.message.includes("/secret"));
});
