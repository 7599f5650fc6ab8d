/**
 * IP address text: IPv4-mapped IPv6 addresses (::ffff:10.0.0.1, what a dual-stack socket
 * reports) are the IPv4 address, IPv6 is lower-cased, and the loopback addresses are known.
 */
import { isIP } from "node:net";

/** Turns ::ffff:a.b.c.d into a.b.c.d and lower-cases IPv6; returns undefined for non-IPs. */
export function normalizeIp(raw: string): string | undefined {
  let ip = raw.trim();
  if (ip.startsWith("[") && ip.endsWith("]")) ip = ip.slice(1, -1);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) ip = mapped[1]!;
  const family = isIP(ip);
  if (family === 0) return undefined;
  return family === 6 ? ip.toLowerCase() : ip;
}

/** True for 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  const ip = normalizeIp(host);
  if (!ip) return false;
  return ip === "::1" || /^127\./.test(ip);
}
