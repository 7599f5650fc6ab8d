/**
 * `bulwark doctor`: the security self-check. Each check reads the configuration or the home
 * directory and reports findings with a severity; a high finding makes the command exit 1.
 * The pure checks take the facts as arguments so they are tested without a machine.
 */
import type { Config } from "../config/index.js";
import { isLoopback } from "../util/ip-address.js";

export type Severity = "high" | "medium" | "low" | "info";

export interface Finding {
  severity: Severity;
  check: string;
  message: string;
}

const WILDCARDS = new Set(["0.0.0.0", "::", "[::]", "*"]);

function exposure(host: string): "loopback" | "all" | "network" {
  if (WILDCARDS.has(host)) return "all";
  return isLoopback(host) ? "loopback" : "network";
}

/** Listeners, TLS, auth and the settings that weaken a default. */
export function configFindings(c: Readonly<Config>): Finding[] {
  const out: Finding[] = [];
  const tls = Boolean(c.tls.cert && c.tls.key);
  for (const [name, host, port] of [
    ["public API", c.server.host, c.server.port],
    ["admin API", c.server.adminHost, c.server.adminPort],
  ] as const) {
    const where = exposure(host);
    const at = `${host}:${port}`;
    if (where === "loopback") {
      out.push({
        severity: "info",
        check: "listeners",
        message: `${name} on ${at}: this machine only`,
      });
    } else {
      out.push({
        severity: name === "admin API" ? "medium" : "low",
        check: "listeners",
        message: `${name} on ${at}: reachable from ${where === "all" ? "every network" : "the network"}`,
      });
      if (!tls)
        out.push({
          severity: "high",
          check: "tls",
          message: `${name} is reachable from the network over plain HTTP: set tls.cert and tls.key (or put a TLS proxy in front and bind to loopback)`,
        });
    }
  }
  if (tls) out.push({ severity: "info", check: "tls", message: "TLS 1.2+ on both listeners" });
  if (tls && !c.tls.adminClientCerts && exposure(c.server.adminHost) !== "loopback")
    out.push({
      severity: "low",
      check: "tls",
      message: "the admin API is reachable from the network without mTLS (tls.adminClientCerts)",
    });
  if (!c.security.auth)
    out.push({
      severity: exposure(c.server.host) === "loopback" ? "medium" : "high",
      check: "auth",
      message: "security.auth is off: the public API needs no key",
    });
  if (c.security.metricsPublic)
    out.push({
      severity: "medium",
      check: "config",
      message: "security.metricsPublic: /metrics needs no key",
    });
  if (!c.security.autoBan.enabled)
    out.push({
      severity: "medium",
      check: "config",
      message: "security.autoBan is off: key guessing is not banned",
    });
  if (c.rateLimits.ipRpm === 0)
    out.push({
      severity: "medium",
      check: "config",
      message: "rateLimits.ipRpm is 0: no per-address limit",
    });
  for (const cidr of c.security.trustedProxies) {
    if (/\/0$/.test(cidr))
      out.push({
        severity: "high",
        check: "config",
        message: `security.trustedProxies holds ${cidr}: any client can forge X-Forwarded-For and dodge bans`,
      });
  }
  if (c.security.ipv6BanPrefix === 128)
    out.push({
      severity: "low",
      check: "config",
      message: "security.ipv6BanPrefix 128: an IPv6 client escapes bans by changing address",
    });
  return out;
}

/** Keys: admin keys that never expire. */
export function keyFindings(
  keys: {
    id: string;
    name: string;
    role: string;
    expiresAt: number | null;
    revokedAt: number | null;
  }[],
): Finding[] {
  const open = keys.filter((k) => k.role === "admin" && !k.revokedAt && k.expiresAt === null);
  if (open.length === 0)
    return [{ severity: "info", check: "keys", message: "every admin key expires" }];
  return [
    {
      severity: "medium",
      check: "keys",
      message: `${open.length} admin key(s) without expiry: ${open.map((k) => k.id).join(", ")} (create with --expires, rotate the old ones)`,
    },
  ];
}

/** File modes: the home 0700, its databases and key files not readable by others. */
export function modeFindings(entries: { path: string; mode: number; dir: boolean }[]): Finding[] {
  const out: Finding[] = [];
  for (const e of entries) {
    const others = e.mode & 0o077;
    if (others === 0) continue;
    out.push({
      severity: e.dir || /\.db$|key/.test(e.path) ? "high" : "medium",
      check: "file modes",
      message: `${e.path} is mode ${(e.mode & 0o777).toString(8)}; make it ${e.dir ? "0700" : "0600"}`,
    });
  }
  if (out.length === 0)
    out.push({
      severity: "info",
      check: "file modes",
      message: "home and databases are private to their owner",
    });
  return out;
}
