/**
 * The dashboard in a real browser: Debian's Chromium driven by playwright-core (the installed
 * browser, no download), against a server with real llama.cpp workers. An admin signs in and
 * sees the KPIs move while a client sends requests; an auditor sees the pages but every action
 * answers 403; a user key cannot sign in; an action without the CSRF token is refused; a page
 * load makes a bounded number of requests; no console errors. Screenshots go to a temporary
 * folder, or to BULWARK_SCREENSHOTS (docs/images refreshes the ones the docs show).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { generateKey } from "../../../src/auth/index.js";
import { call } from "../../helpers/access.js";
import { startTestServer, waitFor, type TestServer } from "../../helpers/server.js";
import { STORIES_MISSING, storiesModel } from "../../helpers/paths.js";

// The functions passed to page.evaluate and waitForFunction run in the page.
declare const document: {
  querySelector(s: string): { textContent: string | null } | null;
  cookie: string;
};

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
const modelPath = storiesModel();
const skip = !CHROMIUM
  ? "chromium not found (Debian package chromium); the browser tests need it"
  : !modelPath
    ? STORIES_MISSING
    : false;
/** Requests one load of a signed-in page may make: the page, its CSS, four modules, the
 * session and the live feed. LiteLLM's admin page once made 51 (BerriAI/litellm#20720). */
const MAX_REQUESTS_PER_LOAD = 8;

let server: TestServer;
let browser: Browser;
const adminKey = generateKey().full;
let auditorKey: string;
let userKey: string;
let victimId: string;
const shots = process.env.BULWARK_SCREENSHOTS
  ? resolve(process.env.BULWARK_SCREENSHOTS)
  : mkdtempSync(join(tmpdir(), "bulwark-shots-"));

before(async () => {
  if (skip) return;
  server = await startTestServer(
    {
      models: [{ name: "stories", path: modelPath, slots: 2 }],
      engine: { contextSize: 256 },
      dashboard: { sampleMs: 500 },
      alerts: { minSamples: 3 },
    },
    { auth: true, adminKey },
  );
  assert.ok(
    await waitFor(async () => (await fetch(`${server.url}/readyz`)).status === 200, 60_000),
  );
  const make = async (name: string, role: string) => {
    const r = await call(`${server.adminUrl}/admin/keys`, adminKey, "POST", { name, role });
    assert.equal(r.status, 201, r.text);
    return r.json as { key: string; id: string };
  };
  auditorKey = (await make("auditor", "auditor")).key;
  userKey = (await make("app", "user")).key;
  victimId = (await make("leaked", "user")).id;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu"],
  });
});
after(async () => {
  await browser?.close();
  await server?.close();
  if (!process.env.BULWARK_SCREENSHOTS) rmSync(shots, { recursive: true, force: true });
});

interface Watched {
  page: Page;
  errors: string[];
  requests: string[];
}

async function open(): Promise<Watched> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 720 } });
  const page = await context.newPage();
  const watched: Watched = { page, errors: [], requests: [] };
  page.on("console", (m) => {
    if (m.type() === "error") watched.errors.push(m.text());
  });
  page.on("pageerror", (e) => watched.errors.push(e.message));
  page.on("request", (r) => watched.requests.push(`${r.method()} ${new URL(r.url()).pathname}`));
  page.on("dialog", (d) => void d.accept());
  await page.goto(`${server.adminUrl}/dashboard`);
  return watched;
}

async function signIn(page: Page, key: string): Promise<void> {
  await page.fill("#login-key", key);
  await page.click("#login-form button[type=submit]");
}

const kpiText = (page: Page, kpi: string) =>
  page.textContent(`[data-kpi="${kpi}"] .value`).then((t) => t ?? "");

async function generate(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await call(`${server.url}/v1/completions`, userKey, "POST", {
      model: "stories",
      prompt: "Once upon a time",
      max_tokens: 24,
    });
    assert.equal(r.status, 200, r.text);
  }
}

test(
  "an admin signs in and sees the KPIs change while a client sends requests",
  { skip },
  async () => {
    const w = await open();
    const { page } = w;
    await signIn(page, adminKey);
    await page.waitForSelector("#nav:not([hidden])");
    await page.waitForSelector('[data-kpi="tokensPerSecond"]');
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === "bulwark_session");
    assert.ok(session, "a session cookie");
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, "Strict");
    assert.equal(await page.evaluate(() => document.cookie), "", "scripts cannot read it");

    const before = await kpiText(page, "tokensPerSecond");
    // A client sends requests (bounded: at most 6 rounds of 4) until the page shows tokens/s.
    let moved = false;
    for (let round = 0; round < 6 && !moved; round++) {
      await generate(4);
      moved = await page
        .waitForFunction(
          () => {
            const t = document.querySelector('[data-kpi="tokensPerSecond"] .value')?.textContent;
            return t !== undefined && t !== null && parseFloat(t) > 0;
          },
          undefined,
          { timeout: 3_000 },
        )
        .then(() => true)
        .catch(() => false);
    }
    assert.ok(moved, `tokens/s stayed at ${before}`);
    // The sample that first showed tokens/s may predate the third request (alerts.minSamples),
    // so wait for a later one to carry the P95.
    await page
      .waitForFunction(
        () => /\d/.test(document.querySelector('[data-kpi="p95"] .value')?.textContent ?? ""),
        undefined,
        { timeout: 5_000 },
      )
      .catch(() => undefined);
    const p95 = await kpiText(page, "p95");
    assert.match(p95, /\d/, "the P95 latency has a value once requests ran");
    await page.waitForTimeout(1_200); // a few more samples for the sparklines
    await page.screenshot({ path: join(shots, "dashboard-overview.png") });

    for (const view of ["models", "usage", "audit", "alerts", "bans", "keys"]) {
      await page.click(`#nav a[href="#${view}"]`);
      await page.waitForSelector(`#view-${view}:not([hidden]) table tr`);
    }
    await page.click('#nav a[href="#models"]');
    await page.waitForSelector("#models-table td");
    assert.match((await page.textContent("#models-table")) ?? "", /stories/);
    await page.screenshot({ path: join(shots, "dashboard-models.png") });
    await page.click('#nav a[href="#usage"]');
    await page.waitForFunction(() =>
      /app/.test(document.querySelector("#usage-table")?.textContent ?? ""),
    );
    await page.screenshot({ path: join(shots, "dashboard-usage.png") });

    // An action: confirmed (the dialog is accepted), done, and in the audit log with the admin.
    await page.click('#nav a[href="#keys"]');
    await page.click(`button[data-action="revoke"][data-args*="${victimId}"]`);
    await page.waitForFunction(() =>
      /revoke: done/.test(document.querySelector("#toast")?.textContent ?? ""),
    );
    await page.click('#nav a[href="#audit"]');
    await page.click("#audit-verify");
    await page.waitForFunction(() =>
      /intact/.test(document.querySelector("#audit-verified")?.textContent ?? ""),
    );
    assert.match((await page.textContent("#audit-table")) ?? "", /key\.revoked/);
    await page.screenshot({ path: join(shots, "dashboard-audit.png") });
    assert.deepEqual(w.errors, [], "no console errors");
    await page.context().close();
  },
);

test(
  "a page load makes a bounded number of requests, one live connection among them",
  { skip },
  async () => {
    const w = await open();
    await signIn(w.page, adminKey);
    await w.page.waitForSelector('[data-kpi="memory"]');
    w.requests.length = 0;
    await w.page.reload();
    await w.page.waitForSelector('[data-kpi="memory"]');
    await w.page.waitForTimeout(1_500); // snapshots keep coming on the one connection
    assert.ok(
      w.requests.length <= MAX_REQUESTS_PER_LOAD,
      `${w.requests.length} requests: ${w.requests.join(", ")}`,
    );
    assert.equal(w.requests.filter((r) => r.endsWith("/dashboard/events")).length, 1);
    assert.ok(
      w.requests.every((r) => r.includes("/dashboard")),
      w.requests.join(", "),
    );
    assert.deepEqual(w.errors, []);
    await w.page.context().close();
  },
);

test("an auditor sees the pages, but every action answers 403", { skip }, async () => {
  const w = await open();
  const { page } = w;
  await signIn(page, auditorKey);
  await page.waitForSelector('[data-kpi="memory"]');
  assert.match((await page.textContent("#who")) ?? "", /auditor/);
  for (const view of ["models", "alerts", "usage", "audit", "bans", "keys"]) {
    await page.click(`#nav a[href="#${view}"]`);
    await page.waitForSelector(`#view-${view}:not([hidden]) table tr`);
  }
  await page.click('#nav a[href="#models"]');
  await page.click('button[data-action="unload"]');
  await page.waitForFunction(() =>
    /403 permission_denied/.test(document.querySelector("#toast")?.textContent ?? ""),
  );
  // Every action route, with the session's CSRF token, as the page sends it.
  const statuses = await page.evaluate(async (victim) => {
    const s = (await (await fetch("/dashboard/api/session")).json()) as { csrfToken: string };
    const headers = { "content-type": "application/json", "x-csrf-token": s.csrfToken };
    const calls: [string, string, string?][] = [
      ["POST", "/admin/serving/stories/unload", "{}"],
      ["POST", "/admin/serving/stories/reload", "{}"],
      ["POST", "/admin/models/stories/promote", '{"version":"1"}'],
      ["POST", "/admin/models/stories/rollback", "{}"],
      ["POST", `/admin/keys/${victim}/revoke`, "{}"],
      ["DELETE", "/admin/bans/203.0.113.7"],
    ];
    const out: number[] = [];
    for (const [method, path, body] of calls) {
      const res = await fetch(path, {
        method,
        headers: body ? headers : { "x-csrf-token": s.csrfToken },
        body,
      });
      out.push(res.status);
    }
    return out;
  }, victimId);
  assert.deepEqual(statuses, [403, 403, 403, 403, 403, 403]);
  await page.screenshot({ path: join(shots, "dashboard-auditor.png") });
  await page.context().close();
});

test("a user key cannot sign in", { skip }, async () => {
  const w = await open();
  await signIn(w.page, userKey);
  await w.page.waitForFunction(
    () => (document.querySelector("#login-error")?.textContent ?? "").length > 0,
  );
  assert.match((await w.page.textContent("#login-error")) ?? "", /user key cannot sign in/);
  assert.equal(await w.page.isHidden("#nav"), true);
  assert.deepEqual(await w.page.context().cookies(), []);
  await w.page.context().close();
});

test("an action without the CSRF token is refused", { skip }, async () => {
  const w = await open();
  await signIn(w.page, adminKey);
  await w.page.waitForSelector("#nav:not([hidden])");
  const ban = await call(`${server.adminUrl}/admin/bans`, adminKey, "POST", { ip: "203.0.113.8" });
  assert.equal(ban.status, 201);
  const refused = await w.page.evaluate(async () => {
    const res = await fetch("/admin/bans/203.0.113.8", { method: "DELETE" });
    return { status: res.status, body: (await res.json()) as any };
  });
  assert.equal(refused.status, 403);
  assert.equal(refused.body.error.code, "csrf_token_invalid");
  const bans = await call(`${server.adminUrl}/admin/bans`, adminKey);
  assert.ok(
    bans.json.data.some((b: any) => b.ip === "203.0.113.8"),
    "the ban is still there",
  );
  await w.page.context().close();
});
