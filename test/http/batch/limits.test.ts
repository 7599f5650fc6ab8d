import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import {
  startTestServer,
  fakeEngine,
  readResponse,
  type TestServer,
} from "../../helpers/server.js";
import { api, chatLine, upload } from "../../helpers/batch.js";

// OpenAI's own limits, the defaults: 200 MiB a file, 50,000 requests a batch.
let s: TestServer;
before(async () => {
  s = await startTestServer(
    { models: [{ name: "fake", path: "/models/fake.gguf" }] },
    { replicaFactory: fakeEngine().factory },
  );
});
after(() => s.close());

const kept = () => readdirSync(join(s.home, "files"));

test("default limit: a file of 50,001 requests is refused at its line 50,001, nothing kept", async () => {
  const lines: string[] = [];
  for (let i = 0; i < 50_001; i++) lines.push(chatLine(`r${i}`, "x"));
  const res = await upload(s.url, lines.join("\n") + "\n");
  assert.equal(res.status, 400, res.text.slice(0, 300));
  assert.equal(res.json.error.code, "invalid_file");
  assert.match(res.json.error.message, /^Line 50001: a batch holds at most 50000 requests/);
  assert.deepEqual(kept(), []);
  assert.equal((await api(s.url, "GET", "/v1/files")).json.data.length, 0);
});

test("default limit: a 201 MiB upload streams through and is refused with 413 file_too_large, nothing kept", async (t) => {
  const boundary = "bulwark-test-boundary";
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jsonl"\r\n` +
      "Content-Type: application/jsonl\r\n\r\n",
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const total = 201 * 1024 * 1024;
  // Lines of ~64 KiB, made as they are sent: neither side holds the file.
  const pad = "x".repeat(64 * 1024);
  let sent = 0;
  let n = 0;
  const rssBefore = process.memoryUsage().rss;
  let rssPeak = rssBefore;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent === 0) controller.enqueue(head);
      if (sent >= total) {
        controller.enqueue(tail);
        controller.close();
        return;
      }
      const line = Buffer.from(chatLine(`big${n++}`, pad) + "\n");
      sent += line.length;
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
      controller.enqueue(line);
    },
  });
  const res = await readResponse(
    await fetch(`${s.url}/v1/files`, {
      method: "POST",
      body,
      headers: { "content-type": `multipart/form-data; boundary=${boundary}` },
      duplex: "half",
    } as RequestInit),
  );
  assert.equal(res.status, 413, res.text);
  assert.equal(res.json.error.code, "file_too_large");
  assert.equal(res.json.error.type, "invalid_request_error");
  assert.ok(sent > 200 * 1024 * 1024);
  assert.deepEqual(kept(), [], "the partial upload was removed");
  assert.equal((await api(s.url, "GET", "/v1/files")).json.data.length, 0);
  // Not asserted (garbage collection decides the RSS), but shown: it stays below the file's size.
  t.diagnostic(`RSS grew ${((rssPeak - rssBefore) / 1024 / 1024).toFixed(0)} MiB for 201 MiB sent`);
});
