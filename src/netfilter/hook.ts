/** The IP filter edge hook: resolves the client address and refuses denied or banned IPs. */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { clientIp } from "./client-ip.js";
import type { Netfilter } from "./netfilter.js";

/** Returns the named onRequest hook; it runs right after the request id is assigned. */
export function ipFilterHook(netfilter: Netfilter) {
  return async function ipFilter(request: FastifyRequest): Promise<void> {
    const ip = clientIp(
      request.socket.remoteAddress,
      request.headers["x-forwarded-for"],
      netfilter.trusted,
    );
    request.ctx.clientIp = ip;
    netfilter.check(ip);
  };
}

/** Installs the hook when a netfilter is configured. */
export function installIpFilter(app: FastifyInstance, netfilter: Netfilter | undefined): void {
  if (netfilter) app.addHook("onRequest", ipFilterHook(netfilter));
}
