/**
 * CIDR lists for IPv4 and IPv6 over Node's net.BlockList. IPv4-mapped IPv6 addresses
 * (::ffff:10.0.0.1, what a dual-stack socket reports) are matched as the IPv4 address.
 */
import { BlockList, isIP } from "node:net";

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

/** Throws on a malformed CIDR or address, naming it. */
export function parseCidr(cidr: string): { address: string; prefix: number; family: 4 | 6 } {
  const [addr, bits] = cidr.split("/");
  const address = normalizeIp(addr ?? "");
  if (!address) throw new Error(`not an IP address or CIDR: "${cidr}"`);
  const family = isIP(address) as 4 | 6;
  const max = family === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : Number(bits);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || bits === "") {
    throw new Error(`bad prefix length in "${cidr}"`);
  }
  return { address, prefix, family };
}

/** A set of CIDRs that answers whether an address falls in one of them. */
export class CidrList {
  private readonly list = new BlockList();
  readonly size: number;

  constructor(cidrs: readonly string[]) {
    for (const cidr of cidrs) {
      const { address, prefix, family } = parseCidr(cidr);
      this.list.addSubnet(address, prefix, family === 4 ? "ipv4" : "ipv6");
    }
    this.size = cidrs.length;
  }

  has(ip: string): boolean {
    if (this.size === 0) return false; // the deny list is empty on most servers
    const address = normalizeIp(ip);
    if (!address) return false;
    return this.list.check(address, isIP(address) === 4 ? "ipv4" : "ipv6");
  }
}

/** True for 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  const ip = normalizeIp(host);
  if (!ip) return false;
  return ip === "::1" || /^127\./.test(ip);
}
