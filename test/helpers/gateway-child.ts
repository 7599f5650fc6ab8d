/**
 * One gateway on the fake engine in a process of its own, so that a test or a benchmark can
 * kill it with SIGKILL as a crashed node: `node dist/test/helpers/gateway-child.js '<json>'`,
 * where the JSON is { overrides: config fields, tokenDelayMs, adminKey }. It prints one JSON line
 * { url, adminUrl, pid } once it is ready, and drains on SIGTERM as `bulwark serve` does.
 */
import { Writable } from "node:stream";
import { loadConfig } from "../../src/config/index.js";
import { startServer } from "../../src/main.js";
import { createLogger } from "../../src/observability/index.js";
import { FakeReplica } from "../../src/engine/fake/fake-replica.js";

interface ChildSpec {
  overrides: Record<string, unknown>;
  tokenDelayMs?: number;
  /** Log lines go to stderr at this level (default: none). */
  logLevel?: string;
  /** The first admin key (BULWARK_ADMIN_KEY), the same on every gateway of a fleet. */
  adminKey?: string;
}

const spec = JSON.parse(process.argv[2] ?? "{}") as ChildSpec;
const config = loadConfig({ env: {}, overrides: spec.overrides });
const logger = createLogger({
  level: spec.logLevel ?? "silent",
  destination: spec.logLevel ? process.stderr : new Writable({ write: (_c, _e, done) => done() }),
});
const controls = { tokenDelayMs: spec.tokenDelayMs ?? 0, firstTokenDelayMs: 0, failureRate: 0 };
const server = await startServer(config, {
  logger,
  adminKey: spec.adminKey,
  replicaFactory: (s) => new FakeReplica(s, controls),
});
for (let i = 0; i < 400; i++) {
  const res = await fetch(`${server.url}/readyz`).catch(() => undefined);
  if (res?.ok) break;
  await new Promise((r) => setTimeout(r, 25));
}
console.log(JSON.stringify({ url: server.url, adminUrl: server.adminUrl, pid: process.pid }));
process.once("SIGTERM", () => void server.close().then(() => process.exit(0)));
