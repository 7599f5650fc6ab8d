/**
 * Start step: the public API's app. Its close comes in two parts on the stack: the listener
 * stops accepting first (pushed once it listens), and the open connections are waited for
 * (a second at most, then cut) only after the models have drained.
 */
import type { FastifyInstance } from "fastify";
import { buildGateway, type GatewayDeps } from "../gateway/index.js";
import type { ResourceStack } from "./resources.js";

/** How long open connections may finish after the models stopped, before they are cut. */
const CONNECTION_GRACE_MS = 1_000;

export interface PublicApi {
  app: FastifyInstance;
  /** Listens on `server.host:server.port`; resolves to the URL. */
  listen(): Promise<string>;
}

export function buildPublicApi(
  deps: GatewayDeps,
  draining: () => boolean,
  resources: ResourceStack,
): PublicApi {
  const app = buildGateway(deps, { draining });
  let closed: Promise<void> | undefined;
  const stopAccepting = () => (closed ??= app.close());
  resources.push("API connections", async () => {
    const done = stopAccepting();
    const grace = new Promise((r) => setTimeout(r, CONNECTION_GRACE_MS).unref());
    await Promise.race([done, grace]);
    app.server.closeAllConnections();
    await done;
  });
  return {
    app,
    listen: async () => {
      const server = deps.config.server;
      const url = await app.listen({ host: server.host, port: server.port });
      resources.push("API listener", () => void stopAccepting());
      return url;
    },
  };
}
