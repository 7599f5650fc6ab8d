/**
 * The client's address. X-Forwarded-For is believed only hop by hop from the right, and only
 * while each hop is a trusted proxy: a client can prepend anything, but it cannot forge what
 * the proxies it passed through appended.
 */
import type { CidrList } from "./cidr.js";
import { normalizeIp } from "./cidr.js";

export function clientIp(
  peer: string | undefined,
  forwardedFor: string | string[] | undefined,
  trusted: CidrList,
): string {
  let ip = normalizeIp(peer ?? "") ?? "unknown";
  if (trusted.size === 0 || !forwardedFor || !trusted.has(ip)) return ip;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(",") : forwardedFor)
    .split(",")
    .map((h) => h.trim())
    .filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeIp(hops[i]!);
    if (!hop) break; // garbage in the header: stop at the last address we could trust
    ip = hop;
    if (!trusted.has(hop)) break;
  }
  return ip;
}
