import { test } from "node:test";
import assert from "node:assert/strict";
import { call, chatBody, startSecureServer } from "../../helpers/access.js";

test("a forged X-Forwarded-For from an untrusted peer changes nothing", async () => {
  const s = await startSecureServer({ security: { ipDeny: ["198.51.100.0/24"] } });
  try {
    const { key } = await s.createKey({ name: "u", role: "user" });
    const forged = { "x-forwarded-for": "198.51.100.7" };
    const res = await call(`${s.server.url}/v1/models`, key, "GET", undefined, forged);
    assert.equal(res.status, 200, "the header is ignored: the peer is 127.0.0.1");
    // With no key either: the forged address gets nothing the real one would not.
    const bad = await call(`${s.server.url}/v1/models`, "bwk_x", "GET", undefined, forged);
    assert.equal(bad.status, 401);
  } finally {
    await s.close();
  }
  const trusted = await startSecureServer({
    security: { ipDeny: ["198.51.100.0/24"], trustedProxies: ["127.0.0.1/32"] },
  });
  try {
    const { key } = await trusted.createKey({ name: "u", role: "user" });
    const viaProxy = { "x-forwarded-for": "198.51.100.7" };
    const res = await call(`${trusted.server.url}/v1/models`, key, "GET", undefined, viaProxy);
    assert.equal(res.status, 403, "behind a trusted proxy the header is believed");
    assert.equal(res.json.error.code, "ip_denied");
    // A client prepending a fake hop before the proxy's own entry is judged by the proxy's entry.
    const spoof = { "x-forwarded-for": "203.0.113.1, 198.51.100.7" };
    assert.equal(
      (await call(`${trusted.server.url}/v1/models`, key, "GET", undefined, spoof)).status,
      403,
    );
    const allowed = { "x-forwarded-for": "198.51.100.7, 203.0.113.1" };
    assert.equal(
      (await call(`${trusted.server.url}/v1/models`, key, "GET", undefined, allowed)).status,
      200,
    );
  } finally {
    await trusted.close();
  }
});

test("brute force gets the IP banned, repeat bans last longer, bans are listed and lifted", async () => {
  const s = await startSecureServer({
    security: {
      trustedProxies: ["127.0.0.1/32"],
      autoBan: { authFailures: 5, windowMs: 60_000, banMs: 60_000, escalation: 4 },
    },
  });
  try {
    const { key } = await s.createKey({ name: "u", role: "user" });
    const attacker = { "x-forwarded-for": "203.0.113.9" };
    const other = { "x-forwarded-for": "203.0.113.10" };
    const models = `${s.server.url}/v1/models`;
    for (let i = 0; i < 5; i++) {
      const guess = await call(models, `bwk_guess${i}`, "GET", undefined, attacker);
      assert.equal(guess.status, 401);
    }
    const banned = await call(
      `${s.server.url}/v1/chat/completions`,
      key,
      "POST",
      chatBody(),
      attacker,
    );
    assert.equal(banned.status, 403, "even a valid key is refused from a banned IP");
    assert.equal(banned.json.error.code, "ip_banned");
    const retry = Number(banned.headers.get("retry-after"));
    assert.ok(retry > 0 && retry <= 60, `retry-after ${retry}`);
    assert.equal(
      (await call(models, key, "GET", undefined, other)).status,
      200,
      "others unaffected",
    );

    const bans = await call(`${s.server.adminUrl}/admin/bans`, s.adminKey);
    const ban = bans.json.data.find((b: any) => b.ip === "203.0.113.9");
    assert.ok(ban, bans.text);
    assert.equal(ban.reason, "auth_failure");
    assert.equal(ban.expiresAt - ban.createdAt, 60_000);
    const lift = await call(`${s.server.adminUrl}/admin/bans/203.0.113.9`, s.adminKey, "DELETE");
    assert.equal(lift.status, 200);
    assert.equal((await call(models, key, "GET", undefined, attacker)).status, 200);

    for (let i = 0; i < 5; i++) await call(models, `bwk_again${i}`, "GET", undefined, attacker);
    const again = (await call(`${s.server.adminUrl}/admin/bans`, s.adminKey)).json.data.find(
      (b: any) => b.ip === "203.0.113.9",
    );
    assert.equal(again.offences, 2);
    assert.equal(again.expiresAt - again.createdAt, 240_000, "the second ban is 4× longer");

    const manual = await call(`${s.server.adminUrl}/admin/bans`, s.adminKey, "POST", {
      ip: "2001:db8::5",
      reason: "abuse report",
    });
    assert.equal(manual.status, 201, manual.text);
    const v6 = await call(models, key, "GET", undefined, { "x-forwarded-for": "2001:DB8::5" });
    assert.equal(v6.status, 403);
    assert.equal(v6.json.error.code, "ip_banned");
    const gone = await call(`${s.server.adminUrl}/admin/bans/192.0.2.1`, s.adminKey, "DELETE");
    assert.equal(gone.status, 404);
    assert.equal(gone.json.error.code, "ban_not_found");
    const audit = (await call(`${s.server.adminUrl}/admin/audit`, s.adminKey)).json.data;
    assert.ok(audit.some((e: any) => e.action === "ban.added" && e.details.automatic));
    assert.ok(audit.some((e: any) => e.action === "ban.lifted"));
  } finally {
    await s.close();
  }
});

test("a loopback peer is never auto-banned by default, and the IP allowlist holds", async () => {
  const s = await startSecureServer({
    security: { autoBan: { authFailures: 2 }, ipAllow: ["127.0.0.0/8", "::1/128"] },
  });
  try {
    for (let i = 0; i < 4; i++) await call(`${s.server.url}/v1/models`, "bwk_bad");
    const { key } = await s.createKey({ name: "u", role: "user" });
    assert.equal((await call(`${s.server.url}/v1/models`, key)).status, 200);
  } finally {
    await s.close();
  }
  const closed = await startSecureServer({ security: { ipAllow: ["10.0.0.0/8"] } });
  try {
    const res = await call(`${closed.server.url}/v1/models`, closed.adminKey);
    assert.equal(res.status, 403);
    assert.equal(res.json.error.code, "ip_denied");
  } finally {
    await closed.close();
  }
});
