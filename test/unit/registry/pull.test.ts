import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import { BulwarkError } from "../../../src/errors/index.js";
import {
  hubAuthHeaders,
  pullModel,
  sha256File,
  type PullOptions,
} from "../../../src/registry/index.js";
import { STORIES_MISSING, storiesModel } from "../../helpers/paths.js";
import { tempRegistry } from "../../helpers/registry.js";
import { startFakeHub } from "../../helpers/fake-hub.js";

const model = storiesModel();
const STORIES_SHA = "270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d";

async function setup(t: TestContext) {
  const r = tempRegistry(0);
  const hub = await startFakeHub([
    { repo: "tiny/stories", path: "stories260K.gguf", data: readFileSync(model!) },
    { repo: "tiny/stories", path: "sub/dir/copy.gguf", data: readFileSync(model!) },
  ]);
  t.after(async () => {
    await hub.close();
    r.cleanup();
  });
  const opts: PullOptions = { hubUrl: hub.url, retries: 2, idleTimeoutMs: 5_000 };
  return { r, hub, opts };
}

test("pull hf:OWNER/REPO/FILE downloads, checks the LFS sha256 and registers it", async (t) => {
  if (!model) return t.skip(STORIES_MISSING);
  const { r, hub, opts } = await setup(t);
  const m = await pullModel(r.registry, { source: "hf:tiny/stories/stories260K.gguf" }, opts);
  assert.equal(m.name, "stories260K");
  assert.equal(m.sha256, STORIES_SHA);
  assert.equal(m.source, "hf:tiny/stories/stories260K.gguf");
  assert.equal(await sha256File(r.registry.resolve("stories260K").path), STORIES_SHA);
  assert.deepEqual(hub.ranges, [undefined]);
  const nested = await pullModel(
    r.registry,
    { source: "hf:tiny/stories/sub/dir/copy.gguf", name: "copy", version: "7" },
    opts,
  );
  assert.equal(`${nested.name}:${nested.version}`, "copy:7");
  assert.deepEqual(readdirSync(join(r.registry.layout.dir, ".downloads")), []);
});

test("a connection cut mid-file is resumed with a Range request", async (t) => {
  if (!model) return t.skip(STORIES_MISSING);
  const { r, hub, opts } = await setup(t);
  hub.cutAfter = { bytes: 400_000, times: 2 };
  const m = await pullModel(r.registry, { source: "hf:tiny/stories/stories260K.gguf" }, opts);
  assert.equal(m.sha256, STORIES_SHA);
  assert.equal(hub.ranges.length, 3);
  assert.equal(hub.ranges[0], undefined);
  assert.match(hub.ranges[1]!, /^bytes=\d+-$/);
  assert.ok(Number(/\d+/.exec(hub.ranges[2]!)![0]) > Number(/\d+/.exec(hub.ranges[1]!)![0]));
});

test("a corrupted byte is detected, downloaded again, then refused", async (t) => {
  if (!model) return t.skip(STORIES_MISSING);
  const { r, hub, opts } = await setup(t);
  hub.corruptAt = 700_000;
  await assert.rejects(
    pullModel(r.registry, { source: "hf:tiny/stories/stories260K.gguf" }, opts),
    (err: unknown) => {
      assert.ok(err instanceof BulwarkError);
      assert.equal(err.code, "registry_checksum_mismatch");
      assert.match(err.message, /source publishes 270cba1b.*refused after 3 downloads/);
      return true;
    },
  );
  assert.equal(hub.ranges.length, 3, "retried twice from scratch");
  assert.deepEqual(r.registry.list(), []);
  assert.deepEqual(readdirSync(join(r.registry.layout.dir, ".downloads")), []);
});

test("a missing repository or file gets a clear 404 error", async (t) => {
  if (!model) return t.skip(STORIES_MISSING);
  const { r, opts, hub } = await setup(t);
  const cases: [string, RegExp][] = [
    ["hf:tiny/nothing/stories260K.gguf", /no repository tiny\/nothing at revision main \(404\)/],
    ["hf:tiny/stories/absent.gguf", /tiny\/stories has no file absent\.gguf \(404\)/],
    [`${hub.url}/tiny/stories/resolve/main/absent.gguf`, /was not found \(HTTP 404\)/],
  ];
  for (const [source, pattern] of cases) {
    await assert.rejects(pullModel(r.registry, { source }, opts), (err: unknown) => {
      assert.ok(err instanceof BulwarkError);
      assert.equal(err.code, "registry_download_failed");
      assert.match(err.message, pattern);
      return true;
    });
  }
  await assert.rejects(
    pullModel(r.registry, { source: "hf:onlyowner" }, opts),
    /hf:OWNER\/REPO\/FILE/,
  );
});

test("an URL pull with --sha256 is checked; a wrong sha256 is refused", async (t) => {
  if (!model) return t.skip(STORIES_MISSING);
  const { r, opts, hub } = await setup(t);
  const url = `${hub.url}/tiny/stories/resolve/main/stories260K.gguf`;
  await assert.rejects(
    pullModel(r.registry, { source: url, sha256: "ab".repeat(32) }, { ...opts, retries: 0 }),
    /registry|sha256/,
  );
  const m = await pullModel(r.registry, { source: url, sha256: STORIES_SHA, name: "u" }, opts);
  assert.equal(m.sha256, STORIES_SHA);
  assert.equal(existsSync(r.registry.resolve("u").path), true);
});

test("the hub's token goes only to the hub's own https origin", () => {
  const hub = "https://huggingface.co";
  const auth = { authorization: "Bearer t" };
  assert.deepEqual(
    hubAuthHeaders("https://huggingface.co/api/models/o/r/tree/main", hub, "t"),
    auth,
  );
  assert.deepEqual(
    hubAuthHeaders("https://huggingface.co:443/o/r/resolve/main/m.gguf", hub, "t"),
    auth,
  );
  assert.deepEqual(hubAuthHeaders("https://evil.example/m.gguf", hub, "t"), {});
  assert.deepEqual(hubAuthHeaders("https://huggingface.co.evil.example/m", hub, "t"), {});
  assert.deepEqual(hubAuthHeaders("http://huggingface.co/m.gguf", hub, "t"), {});
  assert.deepEqual(hubAuthHeaders("http://127.0.0.1:9/api/x", "http://127.0.0.1:9", "t"), {});
  assert.deepEqual(hubAuthHeaders("https://huggingface.co/x", hub, undefined), {});
  assert.deepEqual(hubAuthHeaders("not a url", hub, "t"), {});
});
