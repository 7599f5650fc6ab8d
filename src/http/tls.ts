/**
 * HTTPS for both listeners: the certificate, key and (for mTLS) CA files of `tls`, TLS 1.2 at
 * least, and a reload that swaps the server's secure context when a file changes, so a renewed
 * certificate applies to new connections while open ones (streams included) carry on.
 */
import { readFileSync, statSync } from "node:fs";
import type { Server as HttpsServer, ServerOptions } from "node:https";
import type { Config } from "../config/index.js";
import type { Logger } from "../observability/index.js";

export interface TlsSettings {
  cert: string;
  key: string;
  ca: string;
  /** Ask for and verify a client certificate (the admin listener's mTLS). */
  clientCerts: boolean;
  reloadIntervalMs: number;
}

/** The TLS settings of a listener, or undefined for plain HTTP. */
export function tlsFor(config: Readonly<Config>, admin: boolean): TlsSettings | undefined {
  const t = config.tls;
  if (!t.cert || !t.key) return undefined;
  return {
    cert: t.cert,
    key: t.key,
    ca: t.ca,
    clientCerts: admin && t.adminClientCerts,
    reloadIntervalMs: t.reloadIntervalMs,
  };
}

/** The files read now, as Node's HTTPS server options. */
export function readTlsOptions(t: TlsSettings): ServerOptions {
  const options: ServerOptions = {
    cert: readFileSync(t.cert),
    key: readFileSync(t.key),
    minVersion: "TLSv1.2",
  };
  if (t.ca) options.ca = readFileSync(t.ca);
  if (t.clientCerts) {
    options.requestCert = true;
    options.rejectUnauthorized = true;
  }
  return options;
}

/** A change stamp of the files: size and modification time of each. */
function stamp(t: TlsSettings): string {
  return [t.cert, t.key, t.ca]
    .filter(Boolean)
    .map((f) => {
      try {
        const s = statSync(f);
        return `${s.size}:${s.mtimeMs}:${s.ino}`;
      } catch {
        return "missing";
      }
    })
    .join("|");
}

/**
 * Polls the files and swaps the server's secure context when they change. A half-written or
 * mismatched pair (cert replaced before key) fails to load: the old context stays and the next
 * poll tries again. Returns the stop function.
 */
export function watchTls(server: HttpsServer, t: TlsSettings, logger: Logger): () => void {
  let seen = stamp(t);
  const timer = setInterval(() => {
    const now = stamp(t);
    if (now === seen) return;
    try {
      server.setSecureContext(readTlsOptions(t));
      seen = now;
      logger.info({ cert: t.cert }, "TLS certificate reloaded");
    } catch (err) {
      logger.warn({ err: (err as Error).message }, "TLS files changed but do not load yet");
    }
  }, t.reloadIntervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
