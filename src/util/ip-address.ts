/**
 * IP address text: IPv4-mapped IPv6 addresses (::ffff:10.0.0.1, what a dual-stack socket
 * reports) are the IPv4 address, IPv6 is lower-cased, and the loopback addresses are known.
 */
import { isIP } from "node:net";

/**
 * One spelling per address, so that bans, limits and lists keyed by it cannot be dodged by
 * another spelling: IPv4-mapped IPv6 in any form (::ffff:10.0.0.1, ::ffff:a00:1,
 * 0:0:0:0:0:ffff:10.0.0.1) is the IPv4 address, and IPv6 is written as RFC 5952 says (lower
 * case, no leading zeros, the longest run of zero groups as ::). A zone (%eth0) is dropped.
 * Returns undefined for what is not an IP address.
 */
export function normalizeIp(raw: string): string | undefined {
  let ip = raw.trim();
  if (ip.startsWith("[") && ip.endsWith("]")) ip = ip.slice(1, -1);
  const zone = ip.indexOf("%");
  if (zone >= 0 && ip.includes(":")) ip = ip.slice(0, zone);
  const family = isIP(ip);
  if (family === 0) return undefined;
  if (family === 4) return ip;
  const groups = ipv6Groups(ip);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `${groups[6]! >> 8}.${groups[6]! & 255}.${groups[7]! >> 8}.${groups[7]! & 255}`;
  }
  return formatIpv6(groups);
}

/** The eight 16-bit groups of a valid IPv6 address (isIP already said it is one). */
function ipv6Groups(ip: string): number[] {
  let text = ip;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const parse = (part: string | undefined) =>
    part ? part.split(":").map((g) => parseInt(g, 16)) : [];
  const left = parse(head);
  const right = parse(tail);
  const zeros = tail === undefined ? [] : Array(8 - left.length - right.length).fill(0);
  return [...left, ...zeros, ...right];
}

/** RFC 5952 text of eight groups. */
function formatIpv6(groups: number[]): string {
  let best = -1;
  let bestLen = 1; // a single zero group is not shortened
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

/**
 * What bans and per-address limits are keyed by: an IPv4 address itself, an IPv6 address's
 * network of `v6Prefix` bits (`2001:db8:1:2::/64`), since one IPv6 client commonly holds a
 * whole /64 and would escape by rotating within it. Non-addresses ("unknown") stay as given.
 */
export function ipSubject(ip: string, v6Prefix: number): string {
  const address = normalizeIp(ip);
  if (!address || isIP(address) === 4 || v6Prefix >= 128) return address ?? ip;
  const groups = ipv6Groups(address);
  const masked = groups.map((g, i) => {
    const bits = Math.max(0, Math.min(16, v6Prefix - i * 16));
    return bits === 0 ? 0 : g & ((0xffff << (16 - bits)) & 0xffff);
  });
  return `${formatIpv6(masked)}/${v6Prefix}`;
}

/** True for 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  const ip = normalizeIp(host);
  if (!ip) return false;
  return ip === "::1" || /^127\./.test(ip);
}
