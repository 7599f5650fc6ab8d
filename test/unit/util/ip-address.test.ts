import { test } from "node:test";
import assert from "node:assert/strict";
import { ipSubject, normalizeIp } from "../../../src/util/ip-address.js";

test("every spelling of an address is one text", () => {
  const same: [string, string][] = [
    ["::ffff:10.0.0.1", "10.0.0.1"],
    ["::FFFF:10.0.0.1", "10.0.0.1"],
    ["::ffff:a00:1", "10.0.0.1"],
    ["0:0:0:0:0:ffff:10.0.0.1", "10.0.0.1"],
    ["0000:0000:0000:0000:0000:ffff:0a00:0001", "10.0.0.1"],
    ["[::ffff:10.0.0.1]", "10.0.0.1"],
    ["2001:DB8::0001", "2001:db8::1"],
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["fe80::1%eth0", "fe80::1"],
    ["::1", "::1"],
    ["::", "::"],
    ["1.2.3.4", "1.2.3.4"],
  ];
  for (const [raw, canonical] of same) assert.equal(normalizeIp(raw), canonical, raw);
  assert.equal(normalizeIp("not-an-ip"), undefined);
  assert.equal(normalizeIp("1.2.3.4.5"), undefined);
});

test("IPv6 subjects are networks of the configured prefix; IPv4 stays one address", () => {
  assert.equal(ipSubject("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64), "2001:db8:1:2::/64");
  assert.equal(ipSubject("2001:DB8:1:2::1", 64), "2001:db8:1:2::/64");
  assert.equal(ipSubject("2001:db8:1:2ff::1", 56), "2001:db8:1:200::/56");
  assert.equal(ipSubject("2001:db8::1", 128), "2001:db8::1");
  assert.equal(ipSubject("::ffff:10.0.0.1", 64), "10.0.0.1");
  assert.equal(ipSubject("10.0.0.1", 64), "10.0.0.1");
  assert.equal(ipSubject("unknown", 64), "unknown");
});
