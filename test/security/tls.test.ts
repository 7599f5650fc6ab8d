/**
 * TLS on both listeners with a CA made by the test: TLS 1.2 at least, a certificate renewed on
 * disk is served to new connections while an open one carries on, and mTLS on the admin
 * listener refuses a client without a certificate from `tls.ca`; the admin CLI speaks to it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { request as httpsRequest, Agent } from "node:https";
import { connect as tlsConnect, type PeerCertificate, type TLSSocket } from "node:tls";
import { tempDir } from "../helpers/model-files.js";
import { startSecureServer } from "../helpers/access.js";
import { ThrowawayCa, type Issued } from "../helpers/throwaway-ca.js";
import { spawn } from "node:child_process";
import { repoRoot } from "../helpers/paths.js";

/** Runs the real `bulwark` binary without blocking this process (the server answers in it). */
function cliAsync(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const e: NodeJS.ProcessEnv = { ...process.env, ...env };
  // The test's own settings only: none from the environment it runs in.
  for (const name of [
    "BULWARK_CONFIG",
    "BULWARK_API_KEY",
    "BULWARK_ADMIN_CA",
    "BULWARK_ADMIN_CLIENT_CERT",
    "BULWARK_ADMIN_CLIENT_KEY",
  ]) {
    if (!(name in env)) delete e[name];
  }
  const child = spawn(process.execPath, [join(repoRoot(), "bin", "bulwark.js"), ...args], {
    env: e,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, stdout, stderr })));
}

interface Answer {
  status: number;
  body: string;
  serial: string;
}

function get(
  url: string,
  ca: string,
  headers: Record<string, string>,
  options: { agent?: Agent; client?: Issued } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        ca: readFileSync(ca),
        headers,
        // A fresh connection and no resumed TLS session unless the test passes its agent.
        agent: options.agent ?? new Agent({ keepAlive: false, maxCachedSessions: 0 }),
        cert: options.client ? readFileSync(options.client.cert) : undefined,
        key: options.client ? readFileSync(options.client.key) : undefined,
      },
      (res) => {
        // Read while the socket is the response's: after the end it goes back to the agent.
        const socket = res.socket as TLSSocket;
        const peer = socket.getPeerCertificate() as PeerCertificate | undefined;
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body, serial: peer?.serialNumber ?? "" }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

function setup() {
  const dir = tempDir("bulwark-tls-");
  const ca = new ThrowawayCa(dir, "ca");
  const first = ca.issue("server", "server");
  const live = { cert: join(dir, "live-cert.pem"), key: join(dir, "live-key.pem") };
  copyFileSync(first.cert, live.cert);
  copyFileSync(first.key, live.key);
  return { dir, ca, first, live };
}

test("both listeners serve HTTPS only, TLS 1.2 at least, and a renewed certificate without a dropped connection", async (t) => {
  const { dir, ca, live } = setup();
  const s = await startSecureServer({
    tls: { cert: live.cert, key: live.key, reloadIntervalMs: 100 },
  });
  t.after(async () => {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  });
  assert.match(s.server.url, /^https:\/\//);
  assert.match(s.server.adminUrl, /^https:\/\//);
  const auth = { authorization: `Bearer ${s.adminKey}` };
  for (const url of [`${s.server.url}/v1/models`, `${s.server.adminUrl}/admin/keys`]) {
    const res = await get(url, ca.cert, auth);
    assert.equal(res.status, 200, `${url}: ${res.body}`);
  }
  // Plain HTTP on the TLS port is not served.
  const plain = await fetch(s.server.url.replace("https:", "http:") + "/livez").catch(() => null);
  assert.ok(plain === null || plain.status >= 400);
  // TLS 1.1 and below are refused at the handshake.
  const { port } = new URL(s.server.url);
  const old = await new Promise<string>((resolve) => {
    const socket = tlsConnect({
      host: "127.0.0.1",
      port: Number(port),
      ca: readFileSync(ca.cert),
      maxVersion: "TLSv1.1",
      minVersion: "TLSv1",
    });
    socket.once("secureConnect", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.once("error", (err) => resolve(`refused: ${err.message}`));
  });
  assert.match(old, /^refused/);

  // A keep-alive connection, then the certificate is renewed on disk.
  const agent = new Agent({ keepAlive: true, maxSockets: 1, maxCachedSessions: 0 });
  t.after(() => agent.destroy());
  const before = await get(`${s.server.url}/v1/models`, ca.cert, auth, { agent });
  const renewed = ca.issue("server", "server");
  copyFileSync(renewed.key, live.key);
  copyFileSync(renewed.cert, live.cert);
  let fresh: Answer | undefined;
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 100));
    fresh = await get(`${s.server.url}/v1/models`, ca.cert, auth);
    if (fresh.serial !== before.serial) break;
  }
  assert.notEqual(fresh?.serial, before.serial, "the renewed certificate was not served");
  // The connection opened before the renewal still answers, on its first certificate.
  const again = await get(`${s.server.url}/v1/models`, ca.cert, auth, { agent });
  assert.equal(again.status, 200);
  assert.equal(again.serial, before.serial, "the open connection was dropped and reopened");
  assert.ok(s.server.logs.some((l) => l.msg === "TLS certificate reloaded"));
});

test("mTLS on the admin listener: no client certificate or one from another CA is refused", async (t) => {
  const { dir, ca, live } = setup();
  const rogue = new ThrowawayCa(dir, "rogue");
  const s = await startSecureServer({
    tls: { cert: live.cert, key: live.key, ca: ca.cert, adminClientCerts: true },
  });
  t.after(async () => {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const auth = { authorization: `Bearer ${s.adminKey}` };
  const admin = `${s.server.adminUrl}/admin/keys`;
  await assert.rejects(get(admin, ca.cert, auth), "no client certificate");
  await assert.rejects(
    get(admin, ca.cert, auth, { client: rogue.issue("intruder", "client") }),
    "a certificate from another CA",
  );
  const ok = await get(admin, ca.cert, auth, { client: ca.issue("operator", "client") });
  assert.equal(ok.status, 200, ok.body);
  // The public API asks no client certificate.
  const pub = await get(`${s.server.url}/v1/models`, ca.cert, auth);
  assert.equal(pub.status, 200);
});

test("tls.cert without tls.key, or mTLS without a CA, stops the start naming the field", async () => {
  await assert.rejects(startSecureServer({ tls: { cert: "/x.pem" } }), /tls\.key/);
  await assert.rejects(
    startSecureServer({ tls: { cert: "/x.pem", key: "/y.pem", adminClientCerts: true } }),
    /tls\.adminClientCerts/,
  );
});

test("the admin CLI speaks HTTPS and mTLS to the admin listener: CA and client certificate by flag or environment", async (t) => {
  const { dir, ca, live } = setup();
  const s = await startSecureServer({
    tls: { cert: live.cert, key: live.key, ca: ca.cert, adminClientCerts: true },
  });
  t.after(async () => {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const client = ca.issue("operator-cli", "client");
  const base = ["cache", "stats", "--json", "--admin-url", s.server.adminUrl];
  const key = { BULWARK_API_KEY: s.adminKey };
  // By flags.
  const byFlags = await cliAsync(
    [...base, "--tls-ca", ca.cert, "--tls-cert", client.cert, "--tls-key", client.key],
    key,
  );
  assert.equal(byFlags.code, 0, byFlags.stderr);
  assert.equal(JSON.parse(byFlags.stdout).enabled, true);
  // By the environment.
  const byEnv = await cliAsync(base, {
    ...key,
    BULWARK_ADMIN_CA: ca.cert,
    BULWARK_ADMIN_CLIENT_CERT: client.cert,
    BULWARK_ADMIN_CLIENT_KEY: client.key,
  });
  assert.equal(byEnv.code, 0, byEnv.stderr);
  // The default URL is https when the config has TLS (here, the config file's port).
  const port = new URL(s.server.adminUrl).port;
  const byConfig = await cliAsync(["cache", "stats", "--json"], {
    ...key,
    BULWARK_HOME: dir,
    BULWARK_SERVER_ADMIN_PORT: port,
    BULWARK_TLS_CERT: live.cert,
    BULWARK_TLS_KEY: live.key,
    BULWARK_ADMIN_CA: ca.cert,
    BULWARK_ADMIN_CLIENT_CERT: client.cert,
    BULWARK_ADMIN_CLIENT_KEY: client.key,
  });
  assert.equal(byConfig.code, 0, byConfig.stderr);
  // Without the CA, the server's certificate is not trusted: refused, and the message says why.
  const noCa = await cliAsync([...base, "--tls-cert", client.cert, "--tls-key", client.key], key);
  assert.equal(noCa.code, 1);
  assert.match(noCa.stderr, /cannot reach the admin API .*--tls-ca/);
  // Without a client certificate, the mTLS listener refuses the connection.
  const noCert = await cliAsync([...base, "--tls-ca", ca.cert], key);
  assert.equal(noCert.code, 1);
  assert.match(noCert.stderr, /cannot reach the admin API/);
  const half = await cliAsync([...base, "--tls-ca", ca.cert, "--tls-cert", client.cert], key);
  assert.equal(half.code, 2);
  assert.match(half.stderr, /--tls-cert and --tls-key go together/);
});
