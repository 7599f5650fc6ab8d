import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Keyring } from "../../../src/crypto/index.js";
import { startTestServer, fakeEngine, type TestServer } from "../../helpers/server.js";
import { api, chatLine, jsonl, parseJsonl, upload, waitForBatch } from "../../helpers/batch.js";

// With a data key, every line of every batch file is sealed at rest (docs/security.md).
const keyring = Keyring.fromEnv({ BULWARK_DATA_KEY: randomBytes(32).toString("hex") })!;
const canary = `canary-${randomBytes(8).toString("hex")}`;
let s: TestServer;
before(async () => {
  s = await startTestServer(
    {
      models: [{ name: "fake", path: "/models/fake.gguf" }],
      cache: { enabled: false },
    },
    { replicaFactory: fakeEngine().factory, keyring },
  );
});
after(() => s.close());

test("with a data key, input and result files hold no text in clear, and read back as sent", async () => {
  const lines = [
    chatLine("a", `${canary} one`),
    chatLine("b", `${canary} two`, "fake", { stop: ["zz"] }),
  ];
  const file = await upload(s.url, jsonl(lines));
  assert.equal(file.status, 200, file.text);
  assert.equal(file.json.bytes, Buffer.byteLength(jsonl(lines)));
  const content = await api(s.url, "GET", `/v1/files/${file.json.id}/content`);
  assert.equal(content.text, jsonl(lines));

  const batch = await api(s.url, "POST", "/v1/batches", undefined, {
    input_file_id: file.json.id,
    endpoint: "/v1/chat/completions",
    completion_window: "24h",
  });
  const done = await waitForBatch(s.url, batch.json.id, ["completed"]);
  const output = await api(s.url, "GET", `/v1/files/${done.output_file_id}/content`);
  const results = parseJsonl(output.text);
  assert.deepEqual(results.map((r) => r.custom_id).sort(), ["a", "b"]);
  const meta = await api(s.url, "GET", `/v1/files/${done.output_file_id}`);
  assert.equal(meta.json.bytes, Buffer.byteLength(output.text));

  const dir = join(s.home, "files");
  for (const name of readdirSync(dir)) {
    const raw = readFileSync(join(dir, name), "utf8");
    assert.ok(!raw.includes(canary), `${name} holds the canary in clear`);
    assert.ok(!raw.includes("custom_id"), `${name} holds JSON in clear`);
  }
});
