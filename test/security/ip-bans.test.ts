/**
 * Bans and per-IP limits hold for every spelling of an address and for a whole IPv6 /64
 * (issue 17, hole 12). Clients are simulated behind a trusted proxy (X-Forwarded-For).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { call, chatBody, startSecureServer } from "../helpers/access.js";

const proxied = (ip: string) => ({ "x-forwarded-for": ip });

test("a ban on an IPv4 address holds for its IPv4-mapped IPv6 spellings", async (t) => {
  const s = await startSecureServer({ security: { trustedProxies: ["127.0.0.1/32", "::1/128"] } });
  t.after(() => s.close());
  const ban = await call(`${s.server.adminUrl}/admin/bans`, s.adminKey, "POST", { ip: "10.9.8.7" });
  assert.equal(ban.status, 201, ban.text);
  for (const spelling of [
    "10.9.8.7",
    "::ffff:10.9.8.7",
    "::ffff:a09:807",
    "0:0:0:0:0:ffff:10.9.8.7",
  ]) {
    const res = await call(
      `${s.server.url}/v1/models`,
      s.adminKey,
      "GET",
      undefined,
      proxied(spelling),
    );
    assert.equal(res.status, 403, `${spelling}: ${res.text}`);
    assert.equal(res.json.error.code, "ip_banned");
  }
  const other = await call(
    `${s.server.url}/v1/models`,
    s.adminKey,
    "GET",
    undefined,
    proxied("10.9.8.6"),
  );
  assert.equal(other.status, 200);
});

test("IPv6 bans cover the client's /64: manual bans, auto-bans and the per-IP limit", async (t) => {
  const s = await startSecureServer({
    security: {
      trustedProxies: ["127.0.0.1/32", "::1/128"],
      autoBan: { authFailures: 3, windowMs: 60_000 },
    },
    rateLimits: { ipRpm: 5 },
  });
  t.after(() => s.close());
  const models = (ip: string, key?: string) =>
    call(`${s.server.url}/v1/models`, key, "GET", undefined, proxied(ip));

  // Manual: one address banned, its neighbours in the /64 refused too, the next /64 not.
  const ban = await call(`${s.server.adminUrl}/admin/bans`, s.adminKey, "POST", {
    ip: "2001:db8:1:1::1",
  });
  assert.equal(ban.status, 201, ban.text);
  assert.equal((await models("2001:db8:1:1:ffff::9", s.adminKey)).status, 403);
  assert.equal((await models("2001:0DB8:0001:0001::0001", s.adminKey)).status, 403);
  assert.equal((await models("2001:db8:1:2::1", s.adminKey)).status, 200);
  const list = await call(`${s.server.adminUrl}/admin/bans`, s.adminKey);
  assert.ok(list.text.includes("2001:db8:1:1::/64"), list.text);

  // Auto-ban: three failed authentications from three addresses of one /64 ban the /64.
  for (let i = 1; i <= 3; i++) {
    const res = await models(`2001:db8:2:2::${i}`, "bwk_wrong");
    assert.equal(res.status, 401, res.text);
  }
  const after = await models("2001:db8:2:2::99", s.adminKey);
  assert.equal(after.status, 403, after.text);
  assert.equal(after.json.error.code, "ip_banned");

  // The per-IP limit counts the /64: rotating addresses does not buy more requests.
  const statuses: number[] = [];
  for (let i = 1; i <= 8; i++) {
    const res = await call(
      `${s.server.url}/v1/chat/completions`,
      s.adminKey,
      "POST",
      chatBody(),
      proxied(`2001:db8:3:3::${i}`),
    );
    statuses.push(res.status);
  }
  assert.equal(statuses.filter((x) => x === 200).length, 5, statuses.join(","));
  assert.ok(
    statuses.slice(5).every((x) => x === 429),
    statuses.join(","),
  );
});
