import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { DEMO_MODEL_DESCRIPTION, demoWords } from "../../../src/models/index.js";
import { bulwark } from "../../helpers/cli.js";
import { spawnServe, waitReady } from "../../helpers/serve-process.js";
import { tempDir } from "../../helpers/model-files.js";
import { generateKey } from "../../../src/auth/index.js";

/** Word pairs of the demo text; the demo model can only produce these. */
function textPairs(): Set<string> {
  const pairs = new Set<string>();
  const words = demoWords();
  for (let i = 1; i < words.length; i++) {
    if (words[i - 1] !== "\n" && words[i] !== "\n") pairs.add(`${words[i - 1]} ${words[i]}`);
  }
  return pairs;
}

/** Pairs in a generated text that the demo text never has. */
function unknownPairs(previous: string, text: string): string[] {
  const pairs = textPairs();
  const bad: string[] = [];
  for (const line of text.split("\n")) {
    const words = line.match(/[A-Za-z']+|[.,!?;:]/g) ?? [];
    for (let i = 1; i < words.length; i++) {
      if (!pairs.has(`${words[i - 1]} ${words[i]}`)) bad.push(`${words[i - 1]} ${words[i]}`);
    }
  }
  const first = text.match(/[A-Za-z']+|[.,!?;:]/)?.[0];
  if (first && !text.startsWith("\n") && !pairs.has(`${previous} ${first}`))
    bad.push(`${previous} ${first}`);
  return bad;
}

test("models generate demo writes the same bytes every time", () => {
  const dir = tempDir();
  const a = join(dir, "a.gguf");
  const b = join(dir, "b.gguf");
  const r1 = bulwark(["models", "generate", "demo", "--out", a]);
  assert.equal(r1.status, 0, r1.stderr);
  assert.match(r1.stdout, /wrote .*a\.gguf/);
  assert.equal(bulwark(["models", "generate", "demo", "--out", b]).status, 0);
  assert.ok(readFileSync(a).equals(readFileSync(b)));
  const info = JSON.parse(bulwark(["models", "inspect", a, "--json"]).stdout);
  assert.equal(info.name, "bulwark-demo");
  assert.equal(info.layers, 1);
});

test("bulwark serve with no model serves bulwark-demo, described, and its text follows the word pairs", async () => {
  const home = tempDir("bulwark-home-");
  // Auth is on by default: the first admin key comes from BULWARK_ADMIN_KEY on a fresh home.
  const adminKey = generateKey().full;
  const auth = { authorization: `Bearer ${adminKey}` };
  const run = spawnServe(["--port", "0", "--gpu", "cpu", "--threads", "1", "--ctx", "512"], {
    ...process.env,
    BULWARK_HOME: home,
    BULWARK_ADMIN_KEY: adminKey,
  });
  try {
    const url = await run.url;
    assert.ok(
      existsSync(join(home, "models", "bulwark-demo.gguf")),
      "generated under <home>/models",
    );
    await waitReady(url, 60_000);
    const models = (await (await fetch(`${url}/v1/models`, { headers: auth })).json()) as any;
    assert.deepEqual(
      models.data.map((m: any) => m.id),
      ["bulwark-demo"],
    );
    assert.equal(models.data[0].description, DEMO_MODEL_DESCRIPTION);
    assert.match(models.data[0].description, /not a trained language model/);

    const res = await fetch(`${url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", ...auth },
      body: JSON.stringify({
        model: "bulwark-demo",
        prompt: "Once upon a time",
        max_tokens: 40,
        temperature: 1,
        seed: 3,
      }),
    });
    assert.equal(res.status, 200);
    const text = ((await res.json()) as any).choices[0].text as string;
    assert.ok(
      (text.match(/[A-Za-z]+/g) ?? []).length >= 5,
      `too few words: ${JSON.stringify(text)}`,
    );
    assert.deepEqual(unknownPairs("time", text), [], `text: ${JSON.stringify(text)}`);
  } finally {
    run.child.kill("SIGTERM");
    await run.exit;
  }
});
