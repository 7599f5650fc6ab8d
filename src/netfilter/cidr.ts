/**
 * CIDR lists for IPv4 and IPv6 over Node's net.BlockList. IPv4-mapped IPv6 addresses
 * (::ffff:10.0.0.1, what a dual-stack socket reports) are matched as the IPv4 address.
 */
import { BlockList, isIP } from "node:net";
import { isLoopback, normalizeIp } from "../util/ip-address.js";

export { isLoopback, normalizeIp };

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
