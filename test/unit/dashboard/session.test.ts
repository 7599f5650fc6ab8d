import { test } from "node:test";
import assert from "node:assert/strict";
import { SessionStore, sessionCookie } from "../../../src/dashboard/index.js";

const options = { idleMs: 1_000, maxAgeMs: 5_000, maxSessions: 3 };

test("a session lives while it is used, and ends after the idle time or the maximum age", () => {
  let now = 0;
  const store = new SessionStore(options, () => now);
  const s = store.create("k1", "admin", "127.0.0.1");
  assert.match(s.id, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(s.csrfToken, s.id);
  for (now = 900; now < 5_000; now += 900) assert.ok(store.get(s.id), `alive at ${now}`);
  now = 5_000;
  assert.equal(store.get(s.id), undefined, "past the maximum age");
  const idle = store.create("k1", "admin", "127.0.0.1");
  now += 1_000;
  assert.equal(store.get(idle.id), undefined, "idle too long");
});

test("past the bound the least recently used session ends", () => {
  const store = new SessionStore(options, () => 0);
  const [a, b, c] = [1, 2, 3].map((i) => store.create(`k${i}`, "auditor", "::1"));
  store.get(a!.id); // a is now the most recent
  store.create("k4", "operator", "::1");
  assert.equal(store.size, 3);
  assert.ok(store.get(a!.id));
  assert.equal(store.get(b!.id), undefined);
  assert.ok(store.get(c!.id));
});

test("the CSRF token is checked against the session's own", () => {
  const store = new SessionStore(options, () => 0);
  const s = store.create("k1", "admin", "::1");
  const other = store.create("k2", "admin", "::1");
  assert.equal(store.checkCsrf(s, s.csrfToken), true);
  assert.equal(store.checkCsrf(s, other.csrfToken), false);
  assert.equal(store.checkCsrf(s, undefined), false);
  assert.equal(store.checkCsrf(s, ""), false);
  assert.equal(store.checkCsrf(s, s.csrfToken.slice(1)), false);
});

test("the cookie is HttpOnly and SameSite=Strict, Secure only under TLS", () => {
  assert.equal(
    sessionCookie("abc", false, 60),
    "bulwark_session=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=60",
  );
  assert.match(sessionCookie("abc", true, 60), /; Secure$/);
});
