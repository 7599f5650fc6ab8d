export { CidrList, normalizeIp, parseCidr, isLoopback } from "./cidr.js";
export { clientIp } from "./client-ip.js";
export { BanStore, banDropAfter, type Ban, type ReplicatedBan } from "./ban-store.js";
export {
  OffenceCounter,
  banDuration,
  offenceThreshold,
  type BanPolicy,
  type OffenceKind,
  type OffenceStore,
} from "./offences.js";
export { Netfilter, type NetfilterOptions } from "./netfilter.js";
export { ipFilterHook, installIpFilter } from "./hook.js";
