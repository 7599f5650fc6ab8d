import { test } from "node:test";
import assert from "node:assert/strict";
import { call, chatBody, startSecureServer } from "../../helpers/access.js";
import { sseJson } from "../../helpers/sse.js";

test("output policies pass every generated character through, streamed or not", async () => {
  const s = await startSecureServer();
  try {
    const plain = await s.createKey({ name: "plain", role: "user" });
    const body = chatBody("tell me about alice@example.com", { max_tokens: 60, temperature: 0 });
    const reference = await call(`${s.server.url}/v1/chat/completions`, plain.key, "POST", body);
    assert.equal(reference.status, 200);
    const expected = reference.json.choices[0].message.content as string;
    assert.ok(expected.length > 100, "long enough to cross the filter's hold-back window");
    for (const mask of ["prompt+output", "reversible"]) {
      const { key } = await s.createKey({ name: mask, role: "user", mask });
      const full = await call(`${s.server.url}/v1/chat/completions`, key, "POST", body);
      assert.equal(full.json.choices[0].message.content, expected, mask);
      const res = await fetch(`${s.server.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ ...body, stream: true }),
      });
      const events = sseJson(await res.text()) as any[];
      const text = events.map((e) => e.choices?.[0]?.delta?.content ?? "").join("");
      assert.equal(events.filter((e) => e.choices?.[0]?.delta?.role).length, 1, "one role");
      assert.equal(text, expected, `${mask}, streamed`);
    }
  } finally {
    await s.close();
  }
});
