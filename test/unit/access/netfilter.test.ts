import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  BanStore,
  CidrList,
  clientIp,
  Netfilter,
  OffenceCounter,
  banDuration,
  normalizeIp,
} from "../../../src/netfilter/index.js";
import { openDatabase } from "../../../src/store/index.js";

const policy = {
  authFailures: 3,
  rateLimitRefusals: 0,
  windowMs: 1000,
  banMs: 100,
  escalation: 3,
  maxBanMs: 1000,
};

test("CIDR lists match IPv4, IPv6 and IPv4-mapped IPv6", () => {
  const list = new CidrList(["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]);
  assert.ok(list.has("10.1.2.3"));
  assert.ok(list.has("::ffff:10.9.9.9"));
  assert.ok(list.has("2001:DB8:0:1::1"));
  assert.ok(list.has("192.0.2.7"));
  assert.ok(!list.has("192.0.2.8"));
  assert.ok(!list.has("11.0.0.1"));
  assert.ok(!list.has("2001:db9::1"));
  assert.ok(!list.has("not-an-ip"));
  assert.throws(() => new CidrList(["10.0.0.0/33"]), /prefix/);
  assert.equal(normalizeIp("[::1]"), "::1");
});

test("X-Forwarded-For is believed only from trusted proxies, hop by hop from the right", () => {
  const none = new CidrList([]);
  const proxies = new CidrList(["10.0.0.0/8"]);
  assert.equal(clientIp("203.0.113.1", "198.51.100.1", none), "203.0.113.1");
  assert.equal(clientIp("203.0.113.1", "198.51.100.1", proxies), "203.0.113.1", "untrusted peer");
  assert.equal(clientIp("10.0.0.1", "198.51.100.1", proxies), "198.51.100.1");
  assert.equal(clientIp("10.0.0.1", "6.6.6.6, 198.51.100.1, 10.0.0.2", proxies), "198.51.100.1");
  assert.equal(clientIp("10.0.0.1", "garbage", proxies), "10.0.0.1");
  assert.equal(clientIp("::ffff:10.0.0.1", ["1.1.1.1", "2.2.2.2"], proxies), "2.2.2.2");
});

test("offences in a sliding window trigger a ban; repeat bans escalate up to a cap", () => {
  const counter = new OffenceCounter(policy);
  assert.equal(counter.record("a", "auth_failure", 0), false);
  assert.equal(counter.record("a", "auth_failure", 500), false);
  assert.equal(
    counter.record("a", "auth_failure", 1600),
    false,
    "the first fell out of the window",
  );
  assert.equal(counter.record("a", "auth_failure", 1700), false);
  assert.equal(counter.record("a", "auth_failure", 1800), true);
  assert.equal(counter.record("a", "auth_failure", 1900), false, "a ban resets the count");
  assert.equal(counter.record("b", "rate_limited", 0), false, "0 disables a kind");
  assert.deepEqual(
    [1, 2, 3, 4].map((n) => banDuration(policy, n)),
    [100, 300, 900, 1000],
  );
});

test("the netfilter bans, persists, lifts and exempts", async () => {
  let now = 1_000_000;
  const db = openDatabase(":memory:");
  const bans = new BanStore(db, () => now);
  const banned: string[] = [];
  const nf = new Netfilter(
    {
      allow: [],
      deny: ["198.51.100.0/24"],
      trustedProxies: [],
      neverBan: ["127.0.0.0/8"],
      autoBan: { ...policy, enabled: true, forgetAfterMs: 10_000 },
    },
    bans,
    (b) => banned.push(b.ip),
    () => now,
  );
  assert.throws(() => nf.check("198.51.100.3"), /not allowed/);
  for (let i = 0; i < 3; i++) await nf.offence("203.0.113.1", "auth_failure");
  for (let i = 0; i < 3; i++) await nf.offence("127.0.0.1", "auth_failure");
  assert.deepEqual(banned, ["203.0.113.1"]);
  assert.throws(() => nf.check("203.0.113.1"), /banned/);
  now += 100;
  nf.check("203.0.113.1"); // expired
  for (let i = 0; i < 3; i++) await nf.offence("203.0.113.1", "auth_failure");
  assert.equal(bans.active("203.0.113.1")!.expiresAt! - now, 300);
  assert.ok(bans.lift("203.0.113.1"));
  assert.equal(bans.list().length, 0);
  // Reopened from the same database: the row (and its offence count) is still there.
  assert.equal(new BanStore(db, () => now).priorOffences("203.0.113.1", 0), 2);
  db.close();
});

test("the ban check reads memory: own changes at once, another process's within a second", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "bulwark-bans-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  let now = 1_000_000;
  const server = openDatabase(join(dir, "bulwark.db"));
  const cli = openDatabase(join(dir, "bulwark.db"));
  t.after(() => (server.close(), cli.close()));
  const mine = new BanStore(server, () => now);
  const theirs = new BanStore(cli, () => now);

  assert.equal(mine.active("203.0.113.9"), undefined);
  mine.add("203.0.113.1", "auto", "auto", 5_000);
  assert.equal(mine.active("203.0.113.1")?.reason, "auto", "own ban: at once");

  theirs.add("203.0.113.9", "abuse", "cli", null);
  assert.equal(mine.active("203.0.113.9"), undefined, "read less than a second ago");
  now += 1_000;
  assert.equal(mine.active("203.0.113.9")?.source, "cli", "another process's ban: within 1 s");

  theirs.lift("203.0.113.9");
  now += 1_000;
  assert.equal(mine.active("203.0.113.9"), undefined, "lifted by another process");
  // An expiry needs no reload.
  now += 5_000;
  assert.equal(mine.active("203.0.113.1"), undefined);
});
