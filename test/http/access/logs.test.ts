import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { call, chatBody, MODEL, startSecureServer } from "../../helpers/access.js";

const PII = {
  email: "alice.smith@example.com",
  phone: "+44 20 7946 0958",
  mobile: "13812345678",
  card: "4111 1111 1111 1111",
  id: "11010519491231002X",
  ip: "203.0.113.77",
};

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? filesUnder(full) : [full];
  });
}

test("the access log has one masked JSON line per request; no secret or PII reaches any log", async () => {
  const home = mkdtempSync(join(tmpdir(), "bulwark-logs-"));
  const s = await startSecureServer({ home });
  let stdout = "";
  const secrets: string[] = [];
  try {
    const plain = await s.createKey({ name: "plain", role: "user" });
    const masked = await s.createKey({ name: "masked", role: "user", mask: "prompt" });
    secrets.push(s.adminKey, plain.key, masked.key);
    const text = Object.values(PII).join(" and ");

    const ok = await call(
      `${s.server.url}/v1/chat/completions`,
      plain.key,
      "POST",
      chatBody(text),
      {
        "x-request-id": "client-1",
      },
    );
    assert.equal(ok.status, 200);
    // PII in the path, the query and a wrong key: all places a careless log would copy.
    await call(`${s.server.url}/v1/${PII.email}?card=${PII.card.replace(/ /g, "")}`, plain.key);
    const wrongKey = plain.key.replace(/^bwk_[0-9a-z]{12}/, "bwk_000000000000");
    secrets.push(wrongKey);
    assert.equal((await call(`${s.server.url}/v1/models`, wrongKey)).status, 401);
    await call(`${s.server.url}/v1/chat/completions`, plain.key, "POST", {
      model: MODEL,
      messages: text,
    });

    // The masking policy: what reaches the engine has the PII replaced.
    const tok = await call(`${s.server.url}/tokenize`, masked.key, "POST", {
      model: MODEL,
      prompt: text,
    });
    const detok = await call(`${s.server.url}/detokenize`, plain.key, "POST", {
      model: MODEL,
      tokens: tok.json.tokens,
    });
    assert.match(
      detok.json.prompt,
      /\[EMAIL\] and \[PHONE\] and \[PHONE\] and \[CARD\] and \[ID_NUMBER\] and \[IP\]/,
    );
    for (const value of Object.values(PII)) assert.ok(!detok.json.prompt.includes(value), value);
    await new Promise((r) => setTimeout(r, 50));

    const lines = readFileSync(join(home, "logs", "access.log"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const chat = lines.find((l) => l.path === "/v1/chat/completions" && l.status === 200);
    assert.ok(chat, JSON.stringify(lines));
    assert.equal(chat.keyId, plain.id);
    assert.equal(chat.ip, "127.0.0.1");
    assert.equal(chat.model, MODEL);
    assert.ok(chat.promptTokens > 0 && chat.completionTokens > 0);
    assert.equal(typeof chat.latencyMs, "number");
    assert.match(chat.reqId, /^[0-9a-f]{32}$/);
    assert.match(chat.time, /^\d{4}-\d{2}-\d{2}T/);
    const refused = lines.find((l) => l.status === 401);
    assert.equal(refused.errorCode, "invalid_api_key");
    assert.equal(refused.keyId, undefined);
    const bad = lines.find((l) => l.status === 400);
    assert.equal(bad.errorCode, "invalid_request");
    const notFound = lines.find((l) => l.status === 404);
    assert.match(notFound.path, /\[EMAIL\]/);
    stdout = s.server.logs.map((l) => JSON.stringify(l)).join("\n");
  } finally {
    await s.close();
  }
  // Grep every file the server wrote (logs, audit head, the SQLite store and its WAL) and its
  // stdout log for every key and every piece of PII sent.
  const files = filesUnder(home);
  assert.ok(files.some((f) => f.endsWith("access.log")));
  for (const file of files) {
    const content = readFileSync(file).toString("latin1");
    for (const secret of secrets) {
      assert.ok(!content.includes(secret), `a key appears in ${file}`);
      assert.ok(!content.includes(secret.slice(17)), `a key's secret appears in ${file}`);
    }
    if (file.endsWith(".db") || file.endsWith("-wal") || file.endsWith("-shm")) continue;
    for (const [kind, value] of Object.entries(PII)) {
      assert.ok(!content.includes(value), `${kind} appears in ${file}`);
      assert.ok(!content.includes(value.replace(/ /g, "")), `${kind} appears in ${file}`);
    }
  }
  rmSync(home, { recursive: true, force: true });
  for (const secret of secrets) assert.ok(!stdout.includes(secret.slice(17)), "a key in stdout");
  for (const [kind, value] of Object.entries(PII)) {
    assert.ok(
      !stdout.includes(value.replace(/ /g, "")) && !stdout.includes(value),
      `${kind} in stdout`,
    );
  }
});
