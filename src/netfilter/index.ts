export { CidrList, normalizeIp, parseCidr, isLoopback } from "./cidr.js";
export { clientIp } from "./client-ip.js";
export { BanStore, type Ban } from "./ban-store.js";
export { OffenceCounter, banDuration, type BanPolicy, type OffenceKind } from "./offences.js";
export { Netfilter, type NetfilterOptions } from "./netfilter.js";
export { ipFilterHook, installIpFilter } from "./hook.js";
