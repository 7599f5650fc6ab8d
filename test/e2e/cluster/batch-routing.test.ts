/**
 * The shipped nginx rule for the Files and Batch API: behind nginx, /v1/files and /v1/batches
 * reach the one designated gateway (here the second of two), whichever gateway the rest of the
 * traffic reaches, so a file uploaded through nginx is found through nginx, and its batch runs
 * and completes there.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../helpers/redis.js";
import {
  nginxMissing,
  spawnGateway,
  startNginx,
  type GatewayProcess,
  type TestNginx,
} from "../../helpers/nginx.js";
import { api, chatLine, jsonl, parseJsonl, upload, waitForBatch } from "../../helpers/batch.js";

const missing = nginxMissing();
let nginx: TestNginx;
const ports: number[] = [];
const homes: string[] = [];
const gateways: GatewayProcess[] = [];

before(async () => {
  if (missing) return;
  for (let i = 0; i < 2; i++) {
    ports.push(await freePort());
    homes.push(mkdtempSync(join(tmpdir(), `bulwark-batch-gw${i + 1}-`)));
    gateways.push(
      await spawnGateway({
        home: homes[i],
        server: { port: ports[i], adminPort: 0 },
        security: { auth: false, trustedProxies: ["127.0.0.1/32"] },
        instance: { id: `gw${i + 1}` },
        models: [{ name: "fake", path: "/models/fake.gguf", slots: 4 }],
      }),
    );
  }
  nginx = await startNginx(await freePort(), ports, ports[1]);
});

after(async () => {
  await nginx?.close();
  await Promise.all(gateways.map((g) => g.stop()));
  for (const h of homes) rmSync(h, { recursive: true, force: true });
});

test(
  "files and batches go to the designated gateway through nginx",
  { skip: missing },
  async () => {
    // What nginx answered before (its readiness probe) is not this test's.
    const earlier = nginx.log().length;
    const file = await upload(nginx.url, jsonl([chatLine("a", "one"), chatLine("b", "two")]));
    assert.equal(file.status, 200, file.text);
    const id = file.json.id as string;
    assert.equal((await api(gateways[1]!.url, "GET", `/v1/files/${id}`)).status, 200);
    assert.equal((await api(gateways[0]!.url, "GET", `/v1/files/${id}`)).status, 404);
    for (let i = 0; i < 4; i++) {
      assert.equal((await api(nginx.url, "GET", `/v1/files/${id}`)).status, 200);
    }
    const batch = await api(nginx.url, "POST", "/v1/batches", undefined, {
      input_file_id: id,
      endpoint: "/v1/chat/completions",
      completion_window: "24h",
    });
    assert.equal(batch.status, 200, batch.text);
    const done = await waitForBatch(nginx.url, batch.json.id, ["completed"]);
    const out = parseJsonl(
      (await api(nginx.url, "GET", `/v1/files/${done.output_file_id}/content`)).text,
    );
    assert.deepEqual(out.map((r) => r.custom_id).sort(), ["a", "b"]);
    // Every request of this test went through nginx to the second gateway, and only there.
    const routed = nginx.log().slice(earlier);
    assert.ok(routed.length >= 8);
    for (const l of routed) {
      assert.deepEqual(l.upstreams, [`127.0.0.1:${ports[1]}`], JSON.stringify([routed, ports]));
    }
    assert.equal((await api(nginx.url, "GET", "/v1/batches")).json.data[0].id, batch.json.id);
  },
);
