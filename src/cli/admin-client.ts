/**
 * The admin API from the command line: the URL (from --admin-url, else the config's admin
 * listener, https when the config has TLS), the key, and TLS for a listener that serves HTTPS
 * with a private CA and perhaps mTLS (tls.adminClientCerts): the CA to trust, and the client
 * certificate and key to present, from flags or the environment.
 */
import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Command } from "commander";
import { loadConfig } from "../config/index.js";
import { CliError } from "./cli-error.js";
import { storeOptions, type StoreFlags } from "./store-access.js";

export interface AdminFlags extends StoreFlags {
  adminUrl?: string;
  apiKey?: string;
  json?: boolean;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/** Adds the admin API's options (and --config, --home, --json) to a command. */
export function adminOptions(cmd: Command): Command {
  return storeOptions(cmd)
    .option(
      "--admin-url <url>",
      "the server's admin API (default: http(s)://server.adminHost:server.adminPort of the " +
        "config, https when tls.cert is set)",
    )
    .option(
      "--api-key <key>",
      "an admin or operator key (default: $BULWARK_API_KEY, $BULWARK_ADMIN_KEY)",
    )
    .option(
      "--tls-ca <file>",
      "PEM CA that signed the admin listener's certificate (default: $BULWARK_ADMIN_CA; the " +
        "system's CAs otherwise)",
    )
    .option(
      "--tls-cert <file>",
      "PEM client certificate for an admin listener with mTLS (default: $BULWARK_ADMIN_CLIENT_CERT)",
    )
    .option("--tls-key <file>", "PEM key of --tls-cert (default: $BULWARK_ADMIN_CLIENT_KEY)")
    .option("--json", "print the answer as JSON");
}

function baseUrl(flags: AdminFlags): string {
  if (flags.adminUrl) return flags.adminUrl.replace(/\/+$/, "");
  const config = loadConfig({ file: flags.config, overrides: { home: flags.home } });
  const host = config.server.adminHost.includes(":")
    ? `[${config.server.adminHost}]`
    : config.server.adminHost;
  const scheme = config.tls.cert && config.tls.key ? "https" : "http";
  return `${scheme}://${host}:${config.server.adminPort}`;
}

function readPem(file: string | undefined, what: string): Buffer | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file);
  } catch (err) {
    throw new CliError(
      `cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? "error"}`,
      2,
    );
  }
}

/** The TLS material of the flags or the environment. */
function tlsOptions(flags: AdminFlags, env: NodeJS.ProcessEnv) {
  const certFile = flags.tlsCert ?? env.BULWARK_ADMIN_CLIENT_CERT;
  const keyFile = flags.tlsKey ?? env.BULWARK_ADMIN_CLIENT_KEY;
  if (Boolean(certFile) !== Boolean(keyFile)) {
    throw new CliError("--tls-cert and --tls-key go together", 2);
  }
  return {
    ca: readPem(flags.tlsCa ?? env.BULWARK_ADMIN_CA, "CA file"),
    cert: readPem(certFile, "client certificate"),
    key: readPem(keyFile, "client key"),
  };
}

/** Why a connection failed, in words an operator can act on. */
function reachError(base: string, err: NodeJS.ErrnoException): CliError {
  const code = err.code ?? "";
  let hint = "";
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) {
    hint = " (is the CA that signed its certificate given with --tls-ca or $BULWARK_ADMIN_CA?)";
  } else if (
    /ECONNRESET|EPROTO/.test(code) ||
    /certificate required|handshake/i.test(err.message)
  ) {
    hint = " (with tls.adminClientCerts, give a client certificate: --tls-cert and --tls-key)";
  }
  return new CliError(`cannot reach the admin API at ${base}: ${err.message}${hint}`, 1);
}

/** Calls the admin API; a refusal becomes a CLI error with the server's message. */
export async function callAdmin<T>(
  flags: AdminFlags,
  method: string,
  path: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<T> {
  const base = baseUrl(flags);
  const url = new URL(base + path);
  const key = flags.apiKey ?? env.BULWARK_API_KEY ?? env.BULWARK_ADMIN_KEY;
  const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
  const tls = url.protocol === "https:" ? tlsOptions(flags, env) : {};
  const { status, text } = await new Promise<{ status: number; text: string }>(
    (resolve, reject) => {
      const send = url.protocol === "https:" ? httpsRequest : httpRequest;
      const req = send(url, { method, headers, ...tls, timeout: 30_000 }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: body }));
        res.on("error", reject);
      });
      req.on("timeout", () => req.destroy(new Error("no answer in 30 s")));
      req.on("error", reject);
      req.end();
    },
  ).catch((err: NodeJS.ErrnoException) => {
    throw reachError(base, err);
  });
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (status < 200 || status >= 300) {
    const message = (body as { error?: { message?: string } } | undefined)?.error?.message;
    throw new CliError(`the admin API answered ${status}: ${message ?? text}`, 1);
  }
  return body as T;
}
