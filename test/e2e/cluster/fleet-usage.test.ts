/**
 * Usage across a fleet: two gateways sharing one real redis-server (started by the test on a
 * free port, stopped by its PID). Requests made through either are counted once in the usage
 * reports of both (GET /v1/usage, /admin/usage, the dashboard's usage and `bulwark usage`);
 * with Redis killed a report says it is this instance's alone; Redis restarted empty, each
 * gateway sends its rows again, those of the outage included, and the fleet's sum is whole.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { call, chatBody } from "../../helpers/access.js";
import { startFleet, type Fleet } from "../../helpers/cluster.js";
import { redisMissing, startRedis, type TestRedis } from "../../helpers/redis.js";
import { waitFor } from "../../helpers/server.js";
import { repoRoot } from "../../helpers/paths.js";

const missing = redisMissing();
let redis: TestRedis;
let fleet: Fleet;

before(async () => {
  if (missing) return;
  redis = await startRedis();
  // The usage is sent every syncIntervalMs; a loaded machine must not trip the breaker.
  fleet = await startFleet(2, redis.url, {
    state: { commandTimeoutMs: 1_000, syncIntervalMs: 200, onRedisDown: "open" },
    cache: { enabled: false },
  });
});
after(async () => {
  await fleet?.close();
  await redis?.close();
});

const pub = (i: number, path: string) => `${fleet.servers[i]!.url}${path}`;
const adm = (i: number, path: string) => `${fleet.servers[i]!.adminUrl}${path}`;

/** Sends `n` chat requests through gateway `i` with `key`; each must succeed. */
async function send(i: number, key: string, n: number): Promise<void> {
  for (let j = 0; j < n; j++) {
    const r = await call(pub(i, "/v1/chat/completions"), key, "POST", chatBody(`q${i}-${j}`));
    assert.equal(r.status, 200, r.text);
  }
}

/** `bulwark usage --json` on a gateway's home, with its Redis, without blocking the servers. */
function cliUsage(i: number, args: string[] = []): Promise<{ code: number | null; out: string }> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    BULWARK_HOME: fleet.servers[i]!.home,
    BULWARK_STATE_BACKEND: "redis",
    BULWARK_STATE_REDIS_URL: redis.url,
  };
  delete env.BULWARK_CONFIG;
  const child = spawn(
    process.execPath,
    [join(repoRoot(), "bin", "bulwark.js"), "usage", "--json", ...args],
    { env, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, out })));
}

const requestsOf = (body: any, id: string) =>
  (body.data as { key: string; requests: number }[]).find((k) => k.key === id)?.requests ?? 0;

test(
  "requests through both gateways are counted once in every report of either",
  { skip: missing },
  async () => {
    const { key, id } = await fleet.createKey(0, { name: "fleet-usage", role: "user" });
    assert.ok(await waitFor(async () => (await call(pub(1, "/v1/models"), key)).status === 200));
    await send(0, key, 3);
    await send(1, key, 2);
    // Each gateway's own table holds its part; every report sums the fleet's.
    let own: any;
    assert.ok(
      await waitFor(async () => {
        own = (await call(pub(1, "/v1/usage"), key)).json;
        return requestsOf(own, id) === 5;
      }, 10_000),
      `GET /v1/usage on gateway 2: ${JSON.stringify(own)}`,
    );
    assert.equal(own.scope, "fleet");
    assert.equal(own.data[0].by_model.fake.requests, 5);
    assert.ok(own.data[0].total_tokens > 0);
    for (const i of [0, 1]) {
      const admin = await call(adm(i, `/admin/usage?key=${id}`), fleet.adminKey);
      assert.equal(admin.status, 200, admin.text);
      assert.equal(admin.json.scope, "fleet");
      assert.equal(requestsOf(admin.json, id), 5, `admin usage on gateway ${i + 1}`);
      assert.equal(admin.json.data[0].total_tokens, own.data[0].total_tokens);
      const page = await call(adm(i, "/dashboard/api/usage?window=hour"), fleet.adminKey);
      assert.equal(page.status, 200, page.text);
      assert.equal(page.json.scope, "fleet");
      const row = page.json.data.find((u: any) => u.keyId === id);
      assert.equal(row?.requests, 5, `dashboard usage on gateway ${i + 1}: ${page.text}`);
    }
    const cli = await cliUsage(0, ["--key", id]);
    assert.equal(cli.code, 0, cli.out);
    assert.equal(requestsOf(JSON.parse(cli.out), id), 5);
    const local = await cliUsage(0, ["--key", id, "--local"]);
    assert.equal(requestsOf(JSON.parse(local.out), id), 3, "--local: this home's rows only");
  },
);

test(
  "Redis killed: reports say they are this instance's; restarted empty: the rows are sent again, the outage's too",
  { skip: missing },
  async () => {
    const { key, id } = await fleet.createKey(0, { name: "outage", role: "user" });
    assert.ok(await waitFor(async () => (await call(pub(1, "/v1/models"), key)).status === 200));
    await send(0, key, 2);
    await send(1, key, 1);
    assert.ok(
      await waitFor(
        async () =>
          requestsOf((await call(adm(0, `/admin/usage?key=${id}`), fleet.adminKey)).json, id) === 3,
        10_000,
      ),
    );
    await redis.kill();
    // onRedisDown open: the requests still flow, each gateway counting in its own table.
    await send(1, key, 2);
    const down = await call(adm(1, `/admin/usage?key=${id}`), fleet.adminKey);
    assert.equal(down.status, 200, down.text);
    assert.equal(down.json.scope, "instance");
    assert.equal(requestsOf(down.json, id), 3, "gateway 2's own: 1 before and 2 during");
    await redis.restart();
    let body: any;
    assert.ok(
      await waitFor(async () => {
        body = (await call(adm(0, `/admin/usage?key=${id}`), fleet.adminKey)).json;
        return body.scope === "fleet" && requestsOf(body, id) === 5;
      }, 20_000),
      `after the restart: ${JSON.stringify(body)}`,
    );
  },
);

test(
  "a daily budget holds for the fleet: the tokens spent through both gateways stay within it",
  { skip: missing },
  async () => {
    const budget = 400;
    const { key, id } = await fleet.createKey(0, {
      name: "budget",
      role: "user",
      dailyBudget: budget,
    });
    assert.ok(await waitFor(async () => (await call(pub(1, "/v1/models"), key)).status === 200));
    const body = chatBody("the same question every time");
    let refusedOn: number | undefined;
    let admitted = 0;
    for (let n = 0; n < 60 && refusedOn === undefined; n++) {
      const i = n % 2;
      const r = await call(pub(i, "/v1/chat/completions"), key, "POST", body);
      if (r.status === 200) admitted++;
      else {
        assert.equal(r.status, 429, r.text);
        assert.equal(r.json.error.code, "daily_budget_exceeded");
        refusedOn = i;
      }
    }
    assert.ok(refusedOn !== undefined, `refused within 60 requests (${admitted} admitted)`);
    assert.ok(admitted >= 2, "both gateways admitted some");
    // The same request through the other gateway meets the same spent budget.
    const other = await call(pub(1 - refusedOn!, "/v1/chat/completions"), key, "POST", body);
    assert.equal(other.status, 429, other.text);
    assert.equal(other.json.error.code, "daily_budget_exceeded");
    let report: any;
    assert.ok(
      await waitFor(async () => {
        report = (await call(adm(0, `/admin/usage?key=${id}`), fleet.adminKey)).json;
        return requestsOf(report, id) >= admitted;
      }, 10_000),
      JSON.stringify(report),
    );
    const spent = report.data[0].total_tokens;
    assert.ok(spent <= budget, `${spent} tokens spent through the fleet, budget ${budget}`);
  },
);
